package sim_test

import (
	"math"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/sim"
)

type fired struct{ count int }

func (f *fired) onTimeout(_ *ioloop.Completion, err error) {
	if err == nil {
		f.count++
	}
}

// TestWorldRunForEndOfTime: the driver's RunFor and RunUntil with limits
// past the end of virtual time run until nothing is left to happen (or
// until done), instead of wrapping into the past and doing nothing.
func TestWorldRunForEndOfTime(t *testing.T) {
	w := sim.NewWorld(sim.Options{Seed: 1})
	l := w.AddNode("a").Loop()
	if err := w.RunFor(time.Millisecond); err != nil { // a clock at 0 cannot overflow
		t.Fatal(err)
	}
	var f fired
	var c ioloop.Completion
	ioloop.Timeout(l, &c, 5*time.Millisecond, &f, (*fired).onTimeout)
	start := w.Elapsed()
	if err := w.RunFor(time.Duration(math.MaxInt64)); err != nil {
		t.Fatalf("RunFor(math.MaxInt64): %v", err)
	}
	if f.count != 1 || w.Elapsed()-start != 5*time.Millisecond {
		t.Fatalf("RunFor(math.MaxInt64): Timeout fired %d times, clock moved %v; want once, 5ms", f.count, w.Elapsed()-start)
	}

	ioloop.Timeout(l, &c, 7*time.Millisecond, &f, (*fired).onTimeout)
	ok, err := w.RunUntil(time.Duration(math.MaxInt64), func() bool { return f.count == 2 })
	if err != nil || !ok {
		t.Fatalf("RunUntil(math.MaxInt64) = %v, %v; want true once the Timeout fired", ok, err)
	}
}
