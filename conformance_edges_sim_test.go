package ioloop

import (
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/ioloop/ioloop/internal/simcore"
)

// Simulator-only edges of virtual time: a RunFor whose deadline is past
// the end of time must neither freeze the clock nor jump it there.

// passCounter is a second node's busy loop: a Nop that resubmits itself,
// counting the passes the world gives it. While another node's RunFor
// spins without moving time, it is the only thing that runs, so the count
// bounds the test where a spin would otherwise hang it.
type passCounter struct {
	c      Completion
	passes int
	limit  int
	stop   *Loop // stopped, and the count marked a failure, at the limit
	spun   bool
	done   bool // the test is over: resubmit no more
}

func (p *passCounter) onNop(c *Completion, err error) {
	if err != nil || p.done {
		return
	}
	p.passes++
	if p.passes >= p.limit {
		p.spun = true
		p.stop.Stop()
		return
	}
	Nop(c.loop, &p.c, p, (*passCounter).onNop)
}

func TestSimRunForEndOfTime(t *testing.T) {
	newWorld := func(t *testing.T) (*simcore.World, *Loop, *Loop) {
		w := simcore.NewWorld(simcore.Config{Seed: simTestSeed})
		a := newSimLoop(w, w.NewNode("a", simTestAddr))
		b := newSimLoop(w, w.NewNode("b", netip.MustParseAddr("10.0.0.2")))
		t.Cleanup(func() {
			for _, l := range []*Loop{a, b} {
				if err := l.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
		})
		// Start the clock: a deadline computed from 0 cannot overflow.
		if err := a.RunFor(time.Millisecond); err != nil {
			t.Fatal(err)
		}
		return w, a, b
	}

	// The first subtest bounds a spin by count; the others, which cannot
	// (nothing else may run in their worlds), only run once it passed.
	if !t.Run("returns at Stop without spinning", func(t *testing.T) {
		w, a, b := newWorld(t)
		counter := &passCounter{limit: 100_000, stop: a}
		Nop(b, &counter.c, counter, (*passCounter).onNop)
		s := &stopOnFire{l: a}
		var c Completion
		Timeout(a, &c, 20*time.Millisecond, s, (*stopOnFire).onFire)
		startNs := w.NowNs()
		if err := a.RunFor(time.Duration(math.MaxInt64)); err != nil {
			t.Fatalf("RunFor(math.MaxInt64): %v", err)
		}
		if counter.spun {
			t.Fatalf("RunFor(math.MaxInt64) spun: %d passes of another node without virtual time reaching a 20ms Timeout", counter.passes)
		}
		if s.calls != 1 {
			t.Fatalf("RunFor(math.MaxInt64) returned before the Timeout that stops it fired")
		}
		if elapsed := time.Duration(w.NowNs() - startNs); elapsed < 20*time.Millisecond || elapsed > 21*time.Millisecond {
			t.Fatalf("virtual time moved %v, want the Timeout's 20ms", elapsed)
		}
		counter.done = true
	}) {
		return
	}

	t.Run("returns when nothing is left to happen", func(t *testing.T) {
		w, a, _ := newWorld(t)
		var r opResult
		var c Completion
		Timeout(a, &c, 5*time.Millisecond, &r, (*opResult).onErr)
		startNs := w.NowNs()
		if err := a.RunFor(time.Duration(math.MaxInt64)); err != nil {
			t.Fatalf("RunFor(math.MaxInt64) with nothing left to do: %v", err)
		}
		wantOK(t, "Timeout(5ms)", &r)
		if elapsed := time.Duration(w.NowNs() - startNs); elapsed != 5*time.Millisecond {
			t.Fatalf("virtual time moved %v, want 5ms (the last event), not to the end of time", elapsed)
		}
		// The driver's too (sim.World.RunFor polls with no caller).
		if err := w.Poll(nil, math.MaxInt64); err != nil {
			t.Fatalf("World RunFor(math.MaxInt64): %v", err)
		}
		if w.NowNs() != startNs+int64(5*time.Millisecond) {
			t.Fatal("the world's RunFor(math.MaxInt64) moved the clock with nothing to do")
		}
	})

	t.Run("reports a deadlock when only a Timeout that never fires is pending", func(t *testing.T) {
		_, a, _ := newWorld(t)
		var r opResult
		var c Completion
		Timeout(a, &c, time.Duration(math.MaxInt64), &r, (*opResult).onErr)
		if err := a.RunFor(time.Duration(math.MaxInt64)); !errors.Is(err, simcore.ErrDeadlock) {
			t.Fatalf("RunFor(math.MaxInt64) = %v, want ErrDeadlock", err)
		}
		if err := a.Run(); !errors.Is(err, simcore.ErrDeadlock) {
			t.Fatalf("Run = %v, want ErrDeadlock", err)
		}
		if r.calls != 0 {
			t.Fatal("Timeout(math.MaxInt64) fired")
		}
		cancelAndWait(t, a, &c, &r)
	})
}
