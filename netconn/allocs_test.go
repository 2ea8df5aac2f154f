package netconn

import (
	"io"
	"testing"
	"time"
)

// TestReadWriteAllocateNothing measures a 64-byte round trip (Write on one
// end, ReadFull on the other, and back) in steady state: no allocation in
// the callers, the loop or the callbacks, with and without deadlines.
func TestReadWriteAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	forEachBackend(t, func(t *testing.T, nw *Network) {
		c1, c2 := mustPipe(t, nw)
		msg := make([]byte, 64)
		buf := make([]byte, 64)
		roundTrip := func() {
			if _, err := c1.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c2, buf); err != nil {
				t.Fatal(err)
			}
			if _, err := c2.Write(buf); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c1, buf); err != nil {
				t.Fatal(err)
			}
		}
		if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
			t.Errorf("%.2f allocations per round trip, want 0", n)
		}
		// With deadlines: each Read arms (or finds armed) its timer.
		deadline := time.Now().Add(time.Hour)
		for _, c := range []interface{ SetDeadline(time.Time) error }{c1, c2} {
			c.SetDeadline(deadline)
		}
		if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
			t.Errorf("%.2f allocations per round trip with deadlines set, want 0", n)
		}
		// Moving the deadline every time, as net/http does per request.
		withMoves := func() {
			now := time.Now()
			c1.SetDeadline(now.Add(time.Minute))
			c2.SetDeadline(now.Add(time.Minute))
			roundTrip()
		}
		if n := testing.AllocsPerRun(200, withMoves); n != 0 {
			t.Errorf("%.2f allocations per round trip moving the deadlines, want 0", n)
		}
	})
}
