package ioloop

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// inbox is how other goroutines hand a loop work: a bounded multi-producer,
// single-consumer queue of posted functions (Post, Message), a lock-free
// stack of triggered Events, and a stop request (Stop). Producers never
// block and never allocate; the loop takes everything on its own goroutine
// at the start of each pass (Loop.takeInbox).
//
// The queue is Dmitry Vyukov's bounded MPMC array queue used with a single
// consumer: each cell carries a sequence number that says whether it is
// free for the producer whose position it matches, or published for the
// consumer. A producer claims a position with one compare-and-swap, writes
// the cell, then publishes it with a store of its sequence; the consumer
// reads cells in order and stops at the first one not yet published (its
// producer will publish it and then wake the loop). The sequence stores and
// loads give the happens-before edges, so the cell's other fields are
// plain memory and the race detector agrees.
type inbox struct {
	// enqueuePos is written by every producer: it has a cache line to
	// itself so that producers do not slow the loop's own fields.
	_          [64]byte
	enqueuePos atomic.Uint64
	_          [56]byte

	cells []inboxCell
	mask  uint64
	// dequeuePos is the loop's next position to read; only the loop
	// touches it.
	dequeuePos uint64

	// triggered is the top of a stack of Events triggered since the loop
	// last looked, linked through Event.nextTriggered. An Event is pushed
	// only by the Trigger that raises its count from zero, and its count
	// returns to zero only after the loop popped it, so each Event is in
	// the stack at most once and the stack is bounded by the number of
	// Events.
	triggered atomic.Pointer[Event]

	// stopRequests counts Stop calls not yet acted on.
	stopRequests atomic.Int32

	// gate counts producers inside Post, Trigger or Stop, plus gateClosed
	// once the loop closes. Close waits for the count to drain, so that no
	// producer touches the loop's kernel objects (the wakeup eventfd) after
	// Close releases them, and a Post that returned nil always runs.
	gate atomic.Int64
}

// inboxCell is one slot of the queue.
type inboxCell struct {
	sequence atomic.Uint64
	fn       postInvoker
	ctx      unsafe.Pointer
}

// gateClosed is added to inbox.gate when the loop closes.
const gateClosed = int64(1) << 40

// DefaultInboxEntries is used when Options.InboxEntries is 0.
const DefaultInboxEntries = 1024

// MaxInboxEntries is the largest Options.InboxEntries.
const MaxInboxEntries = 1 << 20

func (q *inbox) init(entries uint32) {
	size := uint64(1)
	for size < uint64(entries) {
		size <<= 1
	}
	q.cells = make([]inboxCell, size)
	q.mask = size - 1
	for i := range q.cells {
		q.cells[i].sequence.Store(uint64(i))
	}
}

// enter admits a producer; it fails once the loop has closed. Every
// successful enter must be paired with leave.
func (q *inbox) enter() bool {
	if q.gate.Add(1) >= gateClosed {
		q.gate.Add(-1)
		return false
	}
	return true
}

func (q *inbox) leave() { q.gate.Add(-1) }

// closeGate refuses new producers and waits for those inside to leave.
// Each of them runs a bounded handful of atomic operations and at most one
// non-blocking system call, so the wait is short; it yields the processor
// so that a producer preempted inside can finish.
// It is idempotent: a Close that a panicking callback interrupted may be
// called again.
func (q *inbox) closeGate() {
	if q.gate.Load() < gateClosed {
		q.gate.Add(gateClosed)
	}
	for q.gate.Load() != gateClosed {
		runtime.Gosched()
	}
}

// push queues fn(ctx) and reports false when the queue is full.
func (q *inbox) push(fn postInvoker, ctx unsafe.Pointer) bool {
	pos := q.enqueuePos.Load()
	for {
		cell := &q.cells[pos&q.mask]
		sequence := cell.sequence.Load()
		switch diff := int64(sequence - pos); {
		case diff == 0:
			if q.enqueuePos.CompareAndSwap(pos, pos+1) {
				cell.fn, cell.ctx = fn, ctx
				cell.sequence.Store(pos + 1)
				return true
			}
			pos = q.enqueuePos.Load()
		case diff < 0:
			return false // the cell still holds an entry from one lap ago: full
		default:
			pos = q.enqueuePos.Load() // another producer took this position
		}
	}
}

// pop takes the next published entry, if any. Loop only.
func (q *inbox) pop() (fn postInvoker, ctx unsafe.Pointer, ok bool) {
	cell := &q.cells[q.dequeuePos&q.mask]
	if cell.sequence.Load() != q.dequeuePos+1 {
		return nil, nil, false
	}
	fn, ctx = cell.fn, cell.ctx
	cell.fn, cell.ctx = nil, nil // let the garbage collector have them
	cell.sequence.Store(q.dequeuePos + q.mask + 1)
	q.dequeuePos++
	return fn, ctx, true
}

// queued reports whether an entry is published and waiting. Loop only.
func (q *inbox) queued() bool {
	return q.cells[q.dequeuePos&q.mask].sequence.Load() == q.dequeuePos+1
}

// hasWork reports whether anything waits for the loop. Loop only.
func (q *inbox) hasWork() bool {
	return q.hasDeliveries() || q.stopRequests.Load() != 0
}

// hasDeliveries reports whether posted functions or triggered Events wait
// for the loop (what runInbox takes). Loop only.
func (q *inbox) hasDeliveries() bool {
	return q.queued() || q.triggered.Load() != nil
}

// pushTriggered puts e on the triggered stack.
func (q *inbox) pushTriggered(e *Event) {
	for {
		top := q.triggered.Load()
		e.nextTriggered = top
		if q.triggered.CompareAndSwap(top, e) {
			return
		}
	}
}

// takeTriggered empties the triggered stack and returns its Events in the
// order they were triggered. Loop only.
func (q *inbox) takeTriggered() *Event {
	if q.triggered.Load() == nil {
		return nil // the common case, every pass: a load, not a swap, which would write the line
	}
	var ordered *Event
	for e := q.triggered.Swap(nil); e != nil; {
		next := e.nextTriggered
		e.nextTriggered = ordered
		ordered, e = e, next
	}
	return ordered
}
