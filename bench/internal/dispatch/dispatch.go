// Package dispatch measures how many NOPs per second an event loop moves
// through the kernel: batch NOPs in flight, each completion resubmitting
// its operation, so every pass submits and reaps a batch with one
// io_uring_enter. The kernel does nothing for a NOP: this is the loop's
// own overhead plus the cost of entering the kernel.
package dispatch

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/godzie44/go-uring/uring"
	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// Contenders of the dispatch workload.
var Contenders = []string{"ioloop-io_uring", "go-uring"}

// Result is one measured run.
type Result struct {
	Ops        int64   `json:"ops"`
	Seconds    float64 `json:"seconds"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	CPUnsPerOp float64 `json:"cpu_ns_per_op"`
}

// Run keeps batch NOPs in flight through impl for d, after a warm-up of
// d/10, and reports the rate and the CPU time per NOP.
func Run(impl string, batch int, d time.Duration) (Result, error) {
	var run func(batch int, d time.Duration, measure func(int64)) error
	switch impl {
	case "ioloop-io_uring":
		run = runIOLoop
	case "go-uring":
		run = runGoURing
	default:
		return Result{}, fmt.Errorf("unknown dispatch contender %q (want one of %v)", impl, Contenders)
	}
	var res Result
	var meter proc.Meter
	// measure is called once when the warm-up ends (ops = the count so
	// far) and once at the end.
	calls := 0
	measure := func(ops int64) {
		calls++
		if calls == 1 {
			meter, res.Ops = proc.StartMeter(), -ops
			return
		}
		iv := meter.Stop()
		res.Ops += ops
		res.Seconds = iv.Wall.Seconds()
		res.OpsPerSec = iv.PerSecond(res.Ops)
		res.CPUnsPerOp = float64(iv.CPU.Total()) / float64(res.Ops)
	}
	if err := run(batch, d, measure); err != nil {
		return res, err
	}
	if res.Ops <= 0 {
		return res, errors.New("no NOP completed")
	}
	return res, nil
}

type loopNops struct {
	loop     *ioloop.Loop
	ops      int64
	stopping bool
	err      error
}

func (b *loopNops) onNop(c *ioloop.Completion, err error) {
	if err != nil {
		b.err = err
		return
	}
	b.ops++
	if !b.stopping {
		ioloop.Nop(b.loop, c, b, (*loopNops).onNop)
	}
}

func runIOLoop(batch int, d time.Duration, measure func(int64)) error {
	loop, err := ioloop.New(ioloop.Options{Backend: ioloop.BackendIOUring, Entries: uint32(max(batch, 128))})
	if err != nil {
		return err
	}
	b := &loopNops{loop: loop}
	ops := make([]ioloop.Completion, batch)
	for i := range ops {
		ioloop.Nop(loop, &ops[i], b, (*loopNops).onNop)
	}
	err = loop.RunFor(d / 10)
	measure(b.ops)
	if err == nil {
		err = loop.RunFor(d)
	}
	measure(b.ops)
	b.stopping = true
	return errors.Join(err, b.err, loop.Run(), loop.Close())
}

// runGoURing is go-uring's uring package used as liburing is: no dispatch
// layer at all, just SQEs and CQEs. It is the floor for a Go program on
// io_uring, and does less per operation than an event loop that calls a
// callback per completion.
func runGoURing(batch int, d time.Duration, measure func(int64)) error {
	ring, err := uring.New(uint32(max(batch, 128)))
	if err != nil {
		return err
	}
	defer ring.Close()
	nop := uring.Nop()
	cqes := make([]*uring.CQEvent, batch)
	for i := range batch {
		if err := ring.QueueSQE(nop, 0, uint64(i)); err != nil {
			return err
		}
	}
	var ops int64
	phase := []time.Time{time.Now().Add(d / 10), time.Now().Add(d/10 + d)}
	for len(phase) > 0 {
		for range 64 { // read the clock every 64 batches
			if _, err := ring.SubmitAndWaitCQEvents(uint32(batch)); err != nil && !errors.Is(err, syscall.EINTR) {
				return err
			}
			n := ring.PeekCQEventBatch(cqes)
			for _, cqe := range cqes[:n] {
				if err := cqe.Error(); err != nil {
					return err
				}
				if err := ring.QueueSQE(nop, 0, cqe.UserData); err != nil {
					return err
				}
			}
			ring.AdvanceCQ(uint32(n))
			ops += int64(n)
		}
		if time.Now().After(phase[0]) {
			measure(ops)
			phase = phase[1:]
		}
	}
	return nil
}
