package main

// commands on Windows: info only. The echo server and the benchmarks use
// Unix socket options, signals and process controls (SO_REUSEPORT, CPU
// pinning, child processes) and are built for Unix only.
func commands() []command {
	return []command{
		{"info", "report the backend the loop selects and why (on Windows: IOCP) and its limits", runInfo},
	}
}
