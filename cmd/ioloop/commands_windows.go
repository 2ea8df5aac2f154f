package main

// commands on Windows: info and echo. The benchmarks use Unix process
// controls (CPU pinning, child processes, SO_REUSEPORT, rusage) and are
// built for Unix only.
func commands() []command {
	return []command{
		{"info", "report the backend the loop selects and why (on Windows: IOCP) and its limits", runInfo},
		{"echo", "run a TCP or UDP echo server (on the loop, or on Go's net package) until Ctrl-C", runEcho},
	}
}
