package ioloop

import (
	"runtime"
	"testing"
	"time"
)

// testBackends lists the backends this machine can run; every conformance
// test runs against each of them.
func testBackends(t *testing.T) []Backend {
	t.Helper()
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

func newTestLoop(t testing.TB, opts Options) *Loop {
	t.Helper()
	l, err := New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() {
		if l.closed {
			return
		}
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// runUntil drives l until done() or the time limit, failing the test on
// timeout. It bounds every test that waits on the kernel.
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
