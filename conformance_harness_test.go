package ioloop

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ioloop/ioloop/internal/simcore"
)

// testBackends lists the backends this machine can run; every conformance
// test runs against each of them. The simulator runs everywhere, with its
// faults off, so that it cannot drift from the kernel backends' semantics.
func testBackends(t *testing.T) []Backend {
	t.Helper()
	if runtime.GOOS == "linux" {
		return []Backend{BackendIOUring, readinessBackendKind, BackendSimulator}
	}
	return []Backend{readinessBackendKind, BackendSimulator}
}

// kernelTestBackends lists the kernel backends of testBackends, for the
// tests that run loops on their own goroutines (Groups), which the
// simulator does not support.
func kernelTestBackends() []Backend {
	if runtime.GOOS == "linux" {
		return []Backend{BackendIOUring, readinessBackendKind}
	}
	return []Backend{readinessBackendKind}
}

// forEachBackend runs fn as a subtest per backend, with a loop that is
// closed (and checked to close cleanly) when the subtest ends.
func forEachBackend(t *testing.T, opts Options, fn func(t *testing.T, l *Loop)) {
	t.Helper()
	for _, backend := range testBackends(t) {
		t.Run(backend.String(), func(t *testing.T) {
			o := opts
			o.Backend = backend
			l := newTestLoop(t, o)
			fn(t, l)
		})
	}
}

// simTestSeed seeds every simulated world of the suite: with the faults
// off, it decides only latencies, and a failure replays exactly.
const simTestSeed = 1

// simTestAddr is the address of the one node of a test's simulated world.
var simTestAddr = netip.MustParseAddr("10.0.0.1")

// newTestLoop creates a loop on opts.Backend (BackendSimulator: a loop on
// the only node of a new simulated world, faults off; the other options do
// not apply to it) that is closed when the test ends, and checks that it
// closes cleanly with nothing left pending.
func newTestLoop(t testing.TB, opts Options) *Loop {
	t.Helper()
	var l *Loop
	if opts.Backend == BackendSimulator {
		world := simcore.NewWorld(simcore.Config{Seed: simTestSeed})
		l = newSimLoop(world, world.NewNode("node", simTestAddr))
		if opts.InboxEntries != 0 {
			l.inbox.init(opts.InboxEntries)
		}
	} else {
		var err error
		if l, err = New(opts); err != nil {
			t.Fatalf("New(%+v): %v", opts, err)
		}
	}
	t.Cleanup(func() {
		if l.closed {
			return
		}
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if p := l.Pending(); p != 0 {
			t.Errorf("Pending() = %d after Close", p)
		}
		if simOf(l) != nil {
			if n := simOf(l).node.InFlight(); n != 0 {
				t.Errorf("%d operations still in flight in the simulator after Close", n)
			}
		}
	})
	return l
}

// needsKernel skips the test on the simulator, which serves the loop's
// operations without a kernel, for a test that needs one (pipes, unix
// sockets, socket options, /proc, file descriptors shared with code
// outside the loop, ...). why says what the test needs.
func needsKernel(t testing.TB, l *Loop, why string) {
	t.Helper()
	if simOf(l) != nil {
		t.Skip("needs the kernel: " + why)
	}
}

// runUntil drives l until done() or the time limit, failing the test on
// timeout. It bounds every test that waits on the kernel. On the simulator
// the loop's RunFor advances virtual time; the limit is still wall time.
func runUntil(t testing.TB, l *Loop, limit time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for the loop", limit)
		}
		if err := l.RunFor(10 * time.Millisecond); err != nil {
			t.Fatalf("RunFor: %v", err)
		}
	}
}
