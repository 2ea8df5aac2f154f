//go:build !windows

package sim_test

import (
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/sim"
	"golang.org/x/sys/unix"
)

type benchCounter struct{ n int }

func (c *benchCounter) onErr(*ioloop.Completion, error)        { c.n++ }
func (c *benchCounter) onCount(*ioloop.Completion, int, error) { c.n++ }

// benchBatches submits batches of 64 operations on one node and runs the
// loop (RunFor(step)) until the batch's last one has called back.
func benchBatches(b *testing.B, step time.Duration, submit func(l *ioloop.Loop, c *ioloop.Completion, i int, count *benchCounter)) {
	w := sim.NewWorld(sim.Options{Seed: 1})
	l := w.AddNode("n").Loop()
	var ops [64]ioloop.Completion
	count := &benchCounter{}
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += len(ops) {
		for i := range ops {
			submit(l, &ops[i], i, count)
		}
		for ops[len(ops)-1].Pending() {
			if err := l.RunFor(step); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSimNop is the simulator's dispatch cost: submit, serve, call back.
func BenchmarkSimNop(b *testing.B) {
	benchBatches(b, 0, func(l *ioloop.Loop, c *ioloop.Completion, _ int, count *benchCounter) {
		ioloop.Nop(l, c, count, (*benchCounter).onErr)
	})
}

// BenchmarkSimTimeout schedules and fires virtual timers; the batch's last
// timer is its longest.
func BenchmarkSimTimeout(b *testing.B) {
	benchBatches(b, time.Millisecond, func(l *ioloop.Loop, c *ioloop.Completion, i int, count *benchCounter) {
		ioloop.Timeout(l, c, time.Duration(i)*time.Microsecond, count, (*benchCounter).onErr)
	})
}

// BenchmarkSimPingPong is a Send plus a Recv on each of two nodes per
// round trip: four simulated operations.
func BenchmarkSimPingPong(b *testing.B) {
	w := sim.NewWorld(sim.Options{Seed: 1})
	na, nb := w.AddNode("a"), w.AddNode("b")
	cfd, sfd := pair(b, w, na, nb)
	msg := make([]byte, 64)
	bufA, bufB := make([]byte, 64), make([]byte, 64)
	var sa, ra, sb, rb ioloop.Completion
	count := &benchCounter{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 4 {
		ioloop.Send(na.Loop(), &sa, cfd, msg, count, (*benchCounter).onCount)
		ioloop.Recv(nb.Loop(), &rb, sfd, bufB, count, (*benchCounter).onCount)
		for rb.Pending() {
			w.RunFor(50 * time.Microsecond)
		}
		ioloop.Send(nb.Loop(), &sb, sfd, bufB, count, (*benchCounter).onCount)
		ioloop.Recv(na.Loop(), &ra, cfd, bufA, count, (*benchCounter).onCount)
		for ra.Pending() || sa.Pending() || sb.Pending() {
			w.RunFor(50 * time.Microsecond)
		}
	}
}

// BenchmarkSimFileWrite appends 4 KiB to a simulated file.
func BenchmarkSimFileWrite(b *testing.B) {
	w := sim.NewWorld(sim.Options{Seed: 1})
	l := w.AddNode("n").Loop()
	var op ioloop.Completion
	res := &result{}
	ioloop.OpenAt(l, &op, unix.AT_FDCWD, "/f", unix.O_CREAT|unix.O_RDWR, 0o644, res, (*result).onCount)
	for !res.done() {
		w.RunFor(time.Millisecond)
	}
	fd := res.n
	buf := make([]byte, 4096)
	count := &benchCounter{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ioloop.Write(l, &op, fd, buf, int64(i%1024)*4096, count, (*benchCounter).onCount)
		for op.Pending() {
			w.RunFor(100 * time.Microsecond)
		}
	}
}
