package main

import (
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// benchCommands are the `ioloop bench` subcommands.
func benchCommands() []command {
	return []command{
		{"nop", "NOP dispatch rate (compare: bench/c/nop_liburing.c)", runBenchNop},
		{"read", "random O_DIRECT reads at a queue depth (compare: fio io_uring randread, -engine readat)", runBenchRead},
		{"echo", "ping-pong TCP load generator; with -server, the server's CPU per message", runBenchEcho},
		{"arch", "per-core loops vs one loop + worker pool vs one loop, on requests with CPU work (even, uneven)", runBenchArch},
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
		fmt.Fprintf(w, "  %-5s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Each prints one `name=... key=value ...` line, or one JSON object with -json.")
}

// meter measures wall time and the process's CPU time (user + system, all
// threads, from getrusage(RUSAGE_SELF)) over an interval, the same way the
// C baseline does, so cpu_us_per_op is comparable across tools.
type meter struct {
	start    time.Time
	cpuStart time.Duration
}

// interval is what a meter measured.
type interval struct {
	wall time.Duration
	cpu  time.Duration
}

func startMeter() (meter, error) {
	cpu, err := processCPU()
	if err != nil {
		return meter{}, err
	}
	return meter{start: time.Now(), cpuStart: cpu}, nil
}

func (m meter) stop() (interval, error) {
	wall := time.Since(m.start)
	cpu, err := processCPU()
	if err != nil {
		return interval{}, err
	}
	return interval{wall: wall, cpu: cpu - m.cpuStart}, nil
}

// perSecond returns count per second of wall time.
func (iv interval) perSecond(count int64) float64 {
	return float64(count) / iv.wall.Seconds()
}

// cpuMicrosPer returns the process's CPU microseconds per unit of work.
func (iv interval) cpuMicrosPer(count int64) float64 {
	return iv.cpuMicrosPerOf(iv.cpu, count)
}

// cpuMicrosPerOf returns CPU microseconds per unit of work for CPU time
// measured some other way over the interval (another process's).
func (iv interval) cpuMicrosPerOf(cpu time.Duration, count int64) float64 {
	return float64(cpu.Nanoseconds()) / 1e3 / float64(count)
}

func processCPU() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
