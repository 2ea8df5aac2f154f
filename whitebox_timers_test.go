package ioloop

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
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
			if int(e.c.index) != i {
				t.Fatalf("entry %d records index %d", i, e.c.index)
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

// slackPair records whether the second timer was already due when the
// first one's callback ran.
type slackPair struct {
	first, second   Completion
	secondWasDue    bool
	firstCallbacks  int
	secondCallbacks int
}

func (p *slackPair) onFirst(*Completion, error) {
	p.firstCallbacks++
	p.secondWasDue = p.second.state == stateCompleted
}
func (p *slackPair) onSecond(*Completion, error) { p.secondCallbacks++ }

// TestTimerSlackFiresNeighboursTogether: with slack, a wait for the first
// timer lasts until the second, 2 ms later, is due too, and both fire in
// one pass; without slack (negative TimerSlack) the loop wakes for each.
func TestTimerSlackFiresNeighboursTogether(t *testing.T) {
	backends := []Backend{readinessBackendKind}
	if runtime.GOOS == "linux" {
		backends = append(backends, BackendIOUring)
	}
	for _, backend := range backends {
		// Without slack the second timer is due 100 ms after the first,
		// far more than a pass of a loaded machine (with 2 ms between
		// them the race detector on a busy machine once ran both in one
		// pass); with 200 ms of slack it is due 2 ms after.
		for _, tc := range []struct {
			slack    time.Duration
			second   time.Duration
			together bool
		}{{200 * time.Millisecond, 7 * time.Millisecond, true}, {-1, 105 * time.Millisecond, false}} {
			t.Run(backend.String()+"/"+tc.slack.String(), func(t *testing.T) {
				l := newTestLoop(t, Options{Backend: backend, TimerSlack: tc.slack})
				p := &slackPair{}
				Timeout(l, &p.first, 5*time.Millisecond, p, (*slackPair).onFirst)
				Timeout(l, &p.second, tc.second, p, (*slackPair).onSecond)
				if err := l.Run(); err != nil {
					t.Fatal(err)
				}
				if p.firstCallbacks != 1 || p.secondCallbacks != 1 {
					t.Fatalf("callbacks %d, %d; want one each", p.firstCallbacks, p.secondCallbacks)
				}
				if p.secondWasDue != tc.together {
					t.Fatalf("second timer due in the first one's pass: %v, want %v", p.secondWasDue, tc.together)
				}
			})
		}
	}
}
