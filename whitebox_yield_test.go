package ioloop

import (
	"testing"
	"time"
)

// TestLoopYieldsToTheSchedulerBeforeKernelWaits checks the rate limit of
// yieldBeforeKernelWait: a loop that keeps blocking in the kernel passes
// through the Go scheduler, but at most once per schedulerYieldIntervalNs
// (wakeup.go says why both matter). The simulator never waits in a kernel.
func TestLoopYieldsToTheSchedulerBeforeKernelWaits(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		if l.Backend() == BackendSimulator {
			if l.schedulerYields != 0 {
				t.Fatalf("the simulator yielded %d times", l.schedulerYields)
			}
			return
		}
		// A receive that never completes keeps a readiness backend waiting
		// in the kernel (with nothing to wait on, it parks in the Go
		// scheduler instead, which is a yield already).
		_, server := tcpPair(t, l, loopback4)
		var recv Completion
		buf := make([]byte, 16)
		Recv(l, &recv, server, buf, &recv, func(*Completion, *Completion, int, error) {})

		var timer Completion
		waits := 0
		var onTimer func(*int, *Completion, error)
		onTimer = func(n *int, c *Completion, err error) {
			if err != nil {
				return
			}
			*n++
			Timeout(l, c, time.Millisecond, n, onTimer)
		}
		Timeout(l, &timer, time.Millisecond, &waits, onTimer)

		before := l.schedulerYields
		start := time.Now()
		for time.Since(start) < 60*time.Millisecond {
			if err := l.RunFor(5 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		elapsed := time.Since(start)
		yields := l.schedulerYields - before
		most := uint64(elapsed.Nanoseconds()/schedulerYieldIntervalNs) + 1
		t.Logf("%d yields in %v over %d waits (at most %d allowed)", yields, elapsed, waits, most)
		if yields == 0 {
			t.Fatalf("no yield to the Go scheduler in %v of %d kernel waits", elapsed, waits)
		}
		if yields > most {
			t.Fatalf("%d yields in %v: more than one per %v", yields, elapsed, time.Duration(schedulerYieldIntervalNs))
		}
	})
}
