//go:build !windows

package main

func commands() []command {
	return []command{
		{"info", "report the backend the loop selects and why, and io_uring support: kernel, opcodes, features, setup flags", runInfo},
		{"echo", "run a TCP echo server (on the loop, or on Go's net package) until SIGINT/SIGTERM", runEcho},
		{"bench", "measure the loop: bench nop | bench read | bench echo | bench arch", runBench},
	}
}
