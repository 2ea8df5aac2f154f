//go:build !windows

package ioloop

import (
	"math/rand/v2"
	"testing"
)

// TestTimerHeapRandomized drives the timer heap with random pushes,
// removals from the middle and pops, across several chunks, checking after
// every step that each Completion knows its index, and that pops come in
// (deadline, submission) order.
func TestTimerHeapRandomized(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 5000 // several 1024-entry chunks
	cs := make([]Completion, n)
	var h timerHeap
	inHeap := map[*Completion]bool{}
	check := func() {
		for i := 0; i < h.len(); i++ {
			e := h.at(i)
			if int(e.c.wait.index) != i {
				t.Fatalf("entry %d records index %d", i, e.c.wait.index)
			}
			if i > 0 && e.before(h.at((i-1)/timerHeapArity)) {
				t.Fatalf("entry %d precedes its parent", i)
			}
		}
	}
	for step := 0; step < 20000; step++ {
		c := &cs[rng.IntN(n)]
		switch {
		case !inHeap[c]:
			h.push(c, rng.Int64N(100)) // many ties
			inHeap[c] = true
		case rng.IntN(2) == 0:
			h.remove(c)
			delete(inHeap, c)
		}
		if step%500 == 0 {
			check()
		}
	}
	check()
	var lastDeadline int64 = -1
	var lastSeq uint64
	for h.len() > 0 {
		e := *h.at(0)
		if e.deadlineNs < lastDeadline || (e.deadlineNs == lastDeadline && e.seq < lastSeq) {
			t.Fatalf("popped (%d, %d) after (%d, %d)", e.deadlineNs, e.seq, lastDeadline, lastSeq)
		}
		lastDeadline, lastSeq = e.deadlineNs, e.seq
		if h.popExpired(1<<62) != e.c {
			t.Fatal("popExpired did not return the earliest timer")
		}
	}
}
