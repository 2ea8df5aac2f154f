//go:build !windows

package main

import (
	"fmt"
	"io"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// nopBench keeps `batch` NOPs in flight; every callback resubmits its own
// Completion until `remaining` runs out, so each loop pass submits and reaps
// one batch with one io_uring_enter, like bench/c/nop_liburing.c does.
type nopBench struct {
	loop      *ioloop.Loop
	remaining int64
	err       error
}

func (b *nopBench) onNop(c *ioloop.Completion, err error) {
	if err != nil {
		if b.err == nil {
			b.err = err
		}
		return
	}
	if b.remaining > 0 {
		b.remaining--
		ioloop.Nop(b.loop, c, b, (*nopBench).onNop)
	}
}

func runBenchNop(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ioloop bench nop", "ioloop bench nop -batch N -count N [-backend B] [-entries N] [-json]", stderr)
	batch := fs.Int("batch", 128, "NOPs in flight at once")
	count := fs.Int64("count", 10_000_000, "total NOPs to complete")
	lf := addLoopFlags(fs, "submission queue size (0: max(batch, 128), as the C baseline sizes its ring)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := lf.check(fs); !ok {
		return code
	}
	switch {
	case *batch < 1 || *batch > ioloop.MaxEntries:
		return usageError(fs, "-batch must be in 1..%d, got %d", ioloop.MaxEntries, *batch)
	case *count < 1:
		return usageError(fs, "-count must be positive, got %d", *count)
	}
	if lf.entries == 0 {
		lf.entries = uint(max(*batch, 128))
	}

	loop, err := newLoop(lf.options(), stderr)
	if err != nil {
		return fail(stderr, fs.Name(), err)
	}
	backend := loop.Backend()
	inFlight := int(min(int64(*batch), *count))
	bench := &nopBench{loop: loop, remaining: *count - int64(inFlight)}
	completions := make([]ioloop.Completion, inFlight)

	m := proc.StartMeter()
	for i := range completions {
		ioloop.Nop(loop, &completions[i], bench, (*nopBench).onNop)
	}
	runErr := loop.Run()
	iv := m.Stop()
	closeErr := loop.Close()
	for _, err := range []error{runErr, bench.err, closeErr} {
		if err != nil {
			return fail(stderr, fs.Name(), err)
		}
	}
	if iv.Wall <= 0 {
		return fail(stderr, fs.Name(), fmt.Errorf("run too short to time; raise -count"))
	}

	r := newReport("ioloop_nop").
		str("backend", backend.String()).
		int("batch", int64(*batch)).
		int("ops", *count).
		float("ops_per_sec", iv.PerSecond(*count), 0).
		float("cpu_us_per_op", iv.CPUMicrosPer(*count), 3)
	if err := r.write(stdout, *asJSON); err != nil {
		return fail(stderr, fs.Name(), err)
	}
	return exitOK
}
