package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ioloop/ioloop"
)

// backendUsage is the help text of every -backend flag.
const backendUsage = "auto (the default: io_uring, else the OS's readiness backend; " +
	ioloop.BackendEnv + " overrides auto), io_uring, epoll or kqueue"

// loopFlags are the flags of every subcommand that creates a Loop, mapped
// one to one onto ioloop.Options, so that each subcommand offers the same
// names with the same meaning and limits.
type loopFlags struct {
	backend backendFlag
	entries uint
	workers int
}

// addLoopFlags registers -backend and -entries on fs; entriesUsage is the
// help text of -entries, whose default differs between subcommands.
func addLoopFlags(fs *flag.FlagSet, entriesUsage string) *loopFlags {
	lf := &loopFlags{}
	fs.Var(&lf.backend, "backend", "kernel interface (`backend`) of the loop: "+backendUsage)
	fs.UintVar(&lf.entries, "entries", 0, entriesUsage)
	return lf
}

// addWorkersFlag registers -workers, for the subcommands whose loop runs
// file operations: only there does the readiness backends' pool matter.
func (lf *loopFlags) addWorkersFlag(fs *flag.FlagSet) {
	fs.IntVar(&lf.workers, "workers", 0, fmt.Sprintf(
		"Options.FileWorkers: file operations the epoll/kqueue backends run at once on their worker pool (0: library default, %d; io_uring ignores it)",
		ioloop.DefaultFileWorkers))
}

// check validates the values after parsing; like parseFlags it returns
// ok=false with the exit code when they are wrong.
func (lf *loopFlags) check(fs *flag.FlagSet) (code int, ok bool) {
	if err := checkBackendEnv(lf.backend.Backend); err != nil {
		return envError(fs, err), false
	}
	switch {
	case lf.entries > ioloop.MaxEntries:
		return usageError(fs, "-entries must be at most %d, got %d", ioloop.MaxEntries, lf.entries), false
	case lf.workers < 0:
		return usageError(fs, "-workers must not be negative, got %d", lf.workers), false
	}
	return exitOK, true
}

// checkBackendEnv returns an error naming the bad value and the accepted
// ones when IOLOOP_BACKEND is set to a name the library does not know and
// backend is auto, the one choice the variable overrides. ioloop.New would
// fail too, but deep inside a subcommand and with a message that says
// "ioloop:" twice; `ioloop info` would report it and succeed.
func checkBackendEnv(backend ioloop.Backend) error {
	env := os.Getenv(ioloop.BackendEnv)
	if backend != ioloop.BackendAuto || env == "" {
		return nil
	}
	if _, err := ioloop.ParseBackend(env); err != nil {
		return fmt.Errorf("environment variable %s=%s: %s", ioloop.BackendEnv, env, withoutLibraryPrefix(err))
	}
	return nil
}

// envError reports a bad environment variable, which is a usage error like
// a bad flag value, without the flags' usage: no flag was wrong.
func envError(fs *flag.FlagSet, err error) int {
	fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
	return exitUsage
}

func (lf *loopFlags) options() ioloop.Options {
	return ioloop.Options{Backend: lf.backend.Backend, Entries: uint32(lf.entries), FileWorkers: lf.workers}
}

// newLoop creates a subcommand's Loop. When BackendAuto fell back from
// io_uring it says so on stderr, as a '#' line that scripts skip: a
// benchmark that silently measured another backend would mislead.
func newLoop(opts ioloop.Options, stderr io.Writer) (*ioloop.Loop, error) {
	loop, err := ioloop.New(opts)
	if err != nil {
		return nil, err
	}
	if reason := loop.FallbackReason(); reason != nil {
		fmt.Fprintf(stderr, "# backend %s: auto fell back from io_uring: %v\n", loop.Backend(), reason)
	}
	return loop, nil
}

// effectiveWorkers is the size of the file worker pool a loop on backend
// runs with, or 0 where there is none (io_uring), for reports.
func effectiveWorkers(backend ioloop.Backend, workers int) int {
	switch {
	case backend == ioloop.BackendIOUring:
		return 0
	case workers == 0:
		return ioloop.DefaultFileWorkers
	}
	return workers
}

// flagsSet returns the names of the flags given on the command line, to
// reject flags that do not apply to the mode chosen by another flag.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// rejectFlags returns a usage error naming the first of names that was
// given on the command line although mode makes it meaningless.
func rejectFlags(fs *flag.FlagSet, mode string, names ...string) (code int, ok bool) {
	set := flagsSet(fs)
	for _, name := range names {
		if set[name] {
			return usageError(fs, "-%s does not apply to %s", name, mode), false
		}
	}
	return exitOK, true
}
