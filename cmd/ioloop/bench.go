//go:build !windows

package main

import (
	"fmt"
	"io"
)

// benchCommands are the `ioloop bench` subcommands.
func benchCommands() []command {
	return []command{
		{"nop", "NOP dispatch rate (compare: bench/c/nop_liburing.c)", runBenchNop},
		{"read", "random O_DIRECT reads at a queue depth (compare: fio io_uring randread, -engine readat)", runBenchRead},
		{"echo", "ping-pong TCP load generator; with -server, the server's CPU per message", runBenchEcho},
		{"arch", "per-core loops vs one loop + worker pool vs one loop, on requests with CPU work (even, uneven)", runBenchArch},
		{"sendzc", "one loopback TCP stream of large messages, Send vs SendZC: GB/s and sender CPU per byte", runBenchSendZC},
	}
}

func runBench(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		benchUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		benchUsage(stdout)
		return exitOK
	}
	for _, cmd := range benchCommands() {
		if cmd.name == args[0] {
			return cmd.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "ioloop bench: unknown benchmark %q\n\n", args[0])
	benchUsage(stderr)
	return exitUsage
}

func benchUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: ioloop bench <benchmark> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "benchmarks:")
	for _, cmd := range benchCommands() {
		fmt.Fprintf(w, "  %-6s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Each prints one `name=... key=value ...` line, or one JSON object with -json.")
}
