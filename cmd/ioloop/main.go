// Command ioloop reports which backend the event loop selects on a machine
// and why, inspects its io_uring support, runs a TCP echo server on the
// loop (or on Go's net package, as a baseline), and measures the loop, in
// ways comparable with the C liburing, fio and Go standard library
// baselines (docs/BENCHMARKS.md). The benchmarks share their load
// generator, servers and measurements with the bench/ suite
// (internal/benchkit).
//
// Usage:
//
//	ioloop info [-backend B] [-json]
//	ioloop echo -addr 127.0.0.1:9000 [-server ioloop|gonet] [-loops N [-pin]] [-backend B] [-entries N]
//	ioloop bench nop   -batch 128 -count 10000000 [-backend B] [-entries N] [-json]
//	ioloop bench read  -file F -qd 64 -bs 4096 -direct -duration 5s [-size BYTES]
//	                   [-engine ioloop|readat] [-backend B] [-workers N] [-json]
//	ioloop bench echo  -addr 127.0.0.1:9000 -conns 1000 -size 64 -duration 5s [-backend B] [-json]
//	ioloop bench echo  -server ioloop|gonet [-server-backend B] [-server-loops N] [-pin auto|none|S,C] -conns 1000 -size 64
//	ioloop bench arch  [-arch percore,pool,single] [-dist even,uneven] [-work 0,20us,100us] [-reps 3] [-markdown]
//
// -backend is auto (the default: io_uring where it works, else the OS's
// readiness backend; the IOLOOP_BACKEND environment variable overrides
// auto), io_uring, epoll or kqueue. -workers sizes the readiness
// backends' file worker pool (Options.FileWorkers). `bench read -engine
// readat` reads with os.File.ReadAt from -qd goroutines instead of the
// loop; `bench echo -server` starts the echo server in a child process
// pinned to its own CPU and reports its CPU time (and, with perf, system
// calls) per message. `echo -loops N` runs N loops in an ioloop.Group, one
// per thread, each with its own SO_REUSEPORT listener (-pin: loop i on the
// i-th CPU); `bench echo -server-loops N` measures such a server, its
// loops pinned one per CPU and the load generator on the next CPU if there
// is one, else unpinned. `bench arch` compares one loop per core, one
// loop with a worker pool, and a single loop on requests that carry CPU
// work (docs/ARCHITECTURE.md, "Choosing an architecture").
//
// Exit status: 0 on success, 1 when the work itself fails, 2 for a usage
// error (unknown subcommand, bad flag or flag value).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes. 2 for usage errors follows the flag package and most Unix
// tools, so scripts can tell "you called me wrong" from "it failed".
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// command is one subcommand: run receives the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, so tests can drive the CLI.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		mainUsage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		return runHelp(args[1:], stdout, stderr)
	}
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "ioloop: unknown command %q\n\n", name)
	mainUsage(stderr)
	return exitUsage
}

// runHelp prints the overview, or a subcommand's usage (`ioloop help echo`,
// `ioloop help bench nop`).
func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		mainUsage(stdout)
		return exitOK
	}
	// Asking a subcommand for -h prints its usage on its FlagSet's output;
	// send that to stdout, since here help was what the user asked for.
	return run(append(append([]string{}, args...), "-h"), stdout, stdout)
}

func mainUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: ioloop <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-6s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, "  %-6s %s\n", "help", "show this text, or `ioloop help <command>` for its flags")
}

// newFlagSet returns a FlagSet that reports errors instead of exiting, so
// that parseFlags decides the exit code, and prints usage to stderr.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and rejects stray positional arguments. It
// returns ok=false with the exit code to use: 0 after -h, 2 otherwise. The
// flag package has already printed the error and the usage.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		return usageError(fs, "unexpected argument %q", fs.Arg(0)), false
	}
	return exitOK, true
}

// usageError reports a bad flag value the flag package cannot catch (a
// negative count, a missing required flag) and returns exitUsage.
func usageError(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return exitUsage
}

// fail reports an error of the work itself and returns exitFail.
func fail(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "%s: %s\n", name, withoutLibraryPrefix(err))
	return exitFail
}

// libraryPrefix starts the library's error messages. Every message of the
// CLI starts with the command's name ("ioloop bench nop: "), which already
// says where it comes from, so the library's own prefix is dropped from
// the front of a message rather than doubled.
const libraryPrefix = "ioloop: "

// withoutLibraryPrefix is err's message without libraryPrefix in front.
func withoutLibraryPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), libraryPrefix)
}
