package ioloop

import (
	"runtime"
	"sync/atomic"
)

// Observability: counters the loop keeps on its own goroutine, cheap enough
// to leave on. Each is a plain integer that only the loop's goroutine
// writes: one increment per submission (Loop.submit) and one per callback
// (runCompleted), both indexed by the operation, whose submitted and
// completed counts share 16 bytes of one cache line; one per kernel wait
// (the backend's own counter); one compare per pass for the overflow
// queue's high-water mark. No atomics: Stats reads them on the same
// goroutine. docs/BENCHMARKS.md ("Dispatch, 2026-12-02") measures the cost.

// Op names a kind of operation, as Stats counts them: Op(i) for the i-th
// entry of Stats.Ops. Its String is the operation function's name ("Nop",
// "Recv", "Timeout", ...); OpByName is the inverse.
type Op uint8

// NumOps is the number of entries of Stats.Ops: every Op is below it.
const NumOps = 64

// opcodeNames must fit in Stats.Ops: adding the 65th opcode fails to
// compile here rather than miscounting.
const _ = uint(NumOps - len(opcodeNames))

// String returns the operation's name, or "invalid" for an Op that names
// none.
func (o Op) String() string { return opcode(o).String() }

// OpByName returns the Op whose String is name, and false if none is.
func OpByName(name string) (Op, bool) {
	for i, n := range opcodeNames {
		if n == name && opcode(i) != opNone {
			return Op(i), true
		}
	}
	return 0, false
}

// OpCounts are the counts of one kind of operation.
type OpCounts struct {
	// Submitted counts the operation functions called (Nop, Recv, ...),
	// including submissions rejected before reaching the kernel, which
	// still get their callback.
	Submitted uint64
	// Completed counts callbacks run. Once every callback has run it equals
	// Submitted, except for operations whose one submission has several
	// callbacks (the multishot receives and accepts), which count each.
	Completed uint64
}

// Stats is a snapshot of a Loop's counters and queue depths (Loop.Stats).
// The counts run from the loop's creation and never reset; take the
// difference of two snapshots for a rate.
type Stats struct {
	// Ops counts operations by kind, indexed by Op; Stats.Op looks one up
	// by name and Stats.Total sums them.
	Ops [NumOps]OpCounts

	// KernelEnters counts the loop's calls into the kernel to submit or
	// wait: io_uring_enter on io_uring, epoll_wait (epoll_pwait,
	// epoll_pwait2) on epoll, kevent on kqueue, and the world's polls on
	// the simulator. A Go-scheduler park (the readiness backends wait so
	// when only file operations are outstanding) is not a kernel enter.
	KernelEnters uint64

	// OverflowDepth is how many submissions wait in the loop for room in
	// the kernel's queue now: io_uring's overflow FIFO (operations the full
	// submission ring could not take), or the readiness backends' and the
	// simulator's FIFO of operations submitted and not started yet (they
	// start at the next poll). OverflowHighWater is the largest depth seen,
	// measured once per loop pass, where the queue is drained.
	OverflowDepth     int
	OverflowHighWater int

	// InFlight counts operations submitted whose result is not known yet
	// (queued in the loop, in the kernel, or pending Timeouts and
	// WaitEvents). Loop.Pending also counts the completed ones whose
	// callbacks have not run.
	InFlight int

	// TimersPending counts the pending Timeouts, and the LinkTimeouts that
	// the loop times itself (io_uring times the chains it runs in the
	// kernel, and those are not counted).
	TimersPending int

	// InboxDepth counts the functions posted (Post, Message) and not run
	// yet. Producers on other goroutines may add to it at any moment: it is
	// a momentary reading.
	InboxDepth int

	// PoolBuffersFree sums the free buffers of the loop's buffer pools.
	// It is 0 until pools exist.
	PoolBuffersFree int
}

// Op returns the counts of the operation named name ("Recv", as
// Op.String spells it), or zero counts for a name that is none.
func (s *Stats) Op(name string) OpCounts {
	if op, ok := OpByName(name); ok {
		return s.Ops[op]
	}
	return OpCounts{}
}

// Total sums the counts of every kind of operation.
func (s *Stats) Total() OpCounts {
	var total OpCounts
	for _, c := range s.Ops {
		total.Submitted += c.Submitted
		total.Completed += c.Completed
	}
	return total
}

// Stats returns a snapshot of the loop's counters. It allocates nothing.
//
// Like the other Loop methods it belongs to the loop's goroutine: call it
// between RunFor, Tick or Run calls, or from a callback or a posted
// function. Another goroutine reads a running loop's counters by posting a
// function that calls Stats (Post) and handing the copy back. Stats called
// from another goroutine while the loop runs panics; while it does not run,
// the call is a data race that cannot be detected, as with every other
// method. A closed Loop reports its final counts.
func (l *Loop) Stats() Stats {
	if l.running.Load() != 0 && !insideCallback() {
		panic("ioloop: Stats called from another goroutine while the Loop is running; " +
			"call it on the loop's goroutine (from a callback, or between RunFor calls), or through Post")
	}
	s := Stats{
		Ops:             l.opCounts,
		InFlight:        l.pending,
		TimersPending:   l.timers.len(),
		InboxDepth:      l.inbox.depth(),
		PoolBuffersFree: l.poolBuffersFree(),
	}
	if b, ok := l.backend.(statsBackend); ok {
		bs := b.backendStats()
		s.KernelEnters, s.OverflowDepth, s.OverflowHighWater = bs.kernelEnters, bs.overflowDepth, bs.overflowHighWater
		if l.backendTimers {
			s.TimersPending = bs.timersPending
		}
	}
	return s
}

// statsBackend is implemented by the backends that have counters of their
// own (every real one). An optional interface rather than a method of
// backend, so that test backends need not implement it; its result is a
// value, because a pointer into Stats would make Stats allocate.
type statsBackend interface {
	backendStats() backendStats
}

// backendStats are a backend's counters: kernelEnters, the depth and
// high-water mark of its queue of submissions waiting for the kernel, and,
// from a backend that keeps the timers (Loop.backendTimers), how many are
// pending.
type backendStats struct {
	kernelEnters      uint64
	overflowDepth     int
	overflowHighWater int
	timersPending     int
}

// overflowWatermark tracks the high-water mark of a backend's queue of
// submissions waiting for the kernel.
type overflowWatermark struct{ high int }

// observe records depth, the queue's size where the backend drains it.
func (w *overflowWatermark) observe(depth int) {
	if depth > w.high {
		w.high = depth
	}
}

// stats reports the queue's depth now and the largest seen, along with
// the backend's kernelEnters.
func (w *overflowWatermark) stats(kernelEnters uint64, depth int) backendStats {
	w.observe(depth)
	return backendStats{kernelEnters: kernelEnters, overflowDepth: depth, overflowHighWater: w.high}
}

// depth counts the entries claimed by producers and not yet taken by the
// loop. Loop only.
func (q *inbox) depth() int {
	return int(q.enqueuePos.Load() - q.dequeuePos)
}

// insideCallback reports whether the calling goroutine is running a
// callback or posted function of some Loop, like callerIsInsideCallback,
// but without allocating once it has seen the call: Stats is called from
// callbacks that must not allocate. It looks for the return addresses in
// the callback runners (each calls callbacks from a few call sites),
// which it learns the first time through the slow, allocating walk.
func insideCallback() bool {
	var pcs [128]uintptr
	pcs2 := pcs[:runtime.Callers(2, pcs[:])]
	for _, pc := range pcs2 {
		for i := range callbackReturnPCs {
			known := callbackReturnPCs[i].Load()
			if known == 0 {
				break
			}
			if known == pc {
				return true
			}
		}
	}
	for _, pc := range pcs2 {
		f := runtime.FuncForPC(pc - 1) // pc is a return address: the call is just before it
		if f == nil {
			continue
		}
		for _, runner := range callbackRunners {
			if f.Name() == runner {
				rememberCallbackReturnPC(pc)
				return true
			}
		}
	}
	return false
}

// callbackReturnPCs are the return addresses in the callback runners seen
// so far (0: free). Any goroutine may call Stats, so they are atomic.
var callbackReturnPCs [8]atomic.Uintptr

// rememberCallbackReturnPC adds pc to callbackReturnPCs, unless it is
// there or the table is full (later calls from there then take the slow
// walk, which still answers right).
func rememberCallbackReturnPC(pc uintptr) {
	for i := range callbackReturnPCs {
		if callbackReturnPCs[i].CompareAndSwap(0, pc) || callbackReturnPCs[i].Load() == pc {
			return
		}
	}
}
