package ioloop

import (
	"sync/atomic"
	"unsafe"
)

// An Event is a wakeup that any goroutine can trigger and that completes a
// waiting operation (WaitEvent) on its loop's goroutine. Other goroutines
// use it to tell a loop "look at your shared state": a job queue you
// protect yourself, a configuration change, a shutdown request.
//
// Triggers are counted, never lost, and coalesce. Each WaitEvent callback
// reports n >= 1: the number of Trigger calls since the previous callback
// took its count. Triggers that arrive while no WaitEvent is pending (the
// listener has not re-armed yet) are kept and complete the next WaitEvent
// at once. So however triggers and waits interleave, the n of all
// callbacks add up to the number of Triggers, and a callback always comes
// after the Triggers it counts (everything a triggering goroutine wrote
// before Trigger is visible to the callback). Many Triggers between two
// passes of the loop become one callback.
//
// Trigger costs a few atomic operations, and a system call (an eventfd
// write on Linux, an EVFILT_USER trigger on kqueue) only when the loop is
// blocked in the kernel waiting for work; it never allocates. All Events
// of a loop share the loop's one kernel wakeup object, so an Event costs
// no file descriptor.
type Event struct {
	loop *Loop
	// count is the number of Triggers not yet reported.
	count atomic.Uint64
	// nextTriggered links the Event into its loop's triggered stack (see
	// inbox.triggered).
	nextTriggered *Event

	// Owned by the loop's goroutine:
	// waiter is the pending WaitEvent, if any.
	waiter *Completion
	// popped: the loop took the Event off the triggered stack while no
	// WaitEvent was pending; count is not zero, and the next WaitEvent
	// completes at once. (A trigger only pushes the Event when it raises
	// count from zero, so without this flag those triggers would wait for
	// one more.)
	popped bool
}

// NewEvent returns an Event whose waits run on l.
func NewEvent(l *Loop) *Event {
	if l == nil {
		panic("ioloop: NewEvent with a nil *Loop")
	}
	return &Event{loop: l}
}

// Trigger counts one trigger and wakes the loop if a WaitEvent is pending
// or will be. It is safe to call from any goroutine, including the loop's
// own callbacks, and does nothing once the loop has closed.
func (e *Event) Trigger() {
	l := e.loop
	if !l.inbox.enter() {
		return
	}
	if e.count.Add(1) == 1 {
		l.inbox.pushTriggered(e)
		l.wake.wake()
	}
	l.inbox.leave()
}

// WaitEvent waits until e has been triggered and calls back with the number
// of triggers it reports (see Event) and a nil error, or with 0 and
// ErrCanceled when canceled (Cancel, Close). An Event has at most one
// WaitEvent pending at a time; e must belong to l.
func WaitEvent[T any](l *Loop, c *Completion, e *Event, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	l.prepare(c, opWaitEvent, callback == nil)
	c.op = opWaitEvent
	switch {
	case e == nil:
		panic("ioloop: WaitEvent with a nil *Event")
	case e.loop != l:
		panic("ioloop: WaitEvent on an Event that belongs to another Loop")
	case e.waiter != nil:
		panic("ioloop: WaitEvent on an Event that already has a WaitEvent pending")
	}
	c.peer = unsafe.Pointer(e)
	l.submit(c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// startWaitEvent completes c at once if e has triggers to report, and
// otherwise makes it e's waiter. The loop, not a backend, runs it.
func (l *Loop) startWaitEvent(c *Completion) {
	e := c.waitedEvent()
	if e.popped {
		e.popped = false
		l.record(c, int(e.count.Swap(0)), codeNone)
		return
	}
	c.state = stateInFlight
	l.pending++
	e.waiter = c
	c.index = int32(len(l.eventWaiters))
	l.eventWaiters = append(l.eventWaiters, c)
}

// eventTriggered handles e, just taken off the triggered stack.
func (l *Loop) eventTriggered(e *Event) {
	c := e.waiter
	if c == nil {
		e.popped = true
		return
	}
	l.unwait(c)
	l.completeWith(c, int(e.count.Swap(0)), codeNone)
}

// unwait removes c, a pending WaitEvent, from its Event and the loop's list.
func (l *Loop) unwait(c *Completion) {
	c.waitedEvent().waiter = nil
	last := len(l.eventWaiters) - 1
	moved := l.eventWaiters[last]
	moved.index = c.index
	l.eventWaiters[c.index] = moved
	l.eventWaiters[last] = nil
	l.eventWaiters = l.eventWaiters[:last]
}

// cancelEventWaits completes every pending WaitEvent with ErrCanceled
// (Close).
func (l *Loop) cancelEventWaits() {
	for len(l.eventWaiters) > 0 {
		c := l.eventWaiters[len(l.eventWaiters)-1]
		l.unwait(c)
		l.completeWith(c, 0, codeCanceled)
	}
}
