package ioloop

import (
	"errors"
	"unsafe"
)

// ErrQueueFull is returned by Post and Message when the loop's inbox holds
// Options.InboxEntries functions that it has not run yet. Nothing was
// queued: the caller decides whether to retry later, drop the work, or
// slow its own producers down. The inbox is bounded on purpose, so that a
// loop that falls behind pushes back instead of growing without limit.
var ErrQueueFull = errors.New("ioloop: loop inbox full")

// postInvoker restores the static type of a posted function's context, as
// invoker does for callbacks (see callback.go): the implementation is a
// func type, so storing it in the interface does not allocate.
type postInvoker interface {
	run(ctx unsafe.Pointer)
}

type postFunc[T any] func(ctx *T)

func (f postFunc[T]) run(ctx unsafe.Pointer) { f((*T)(ctx)) }

// Post queues fn(ctx) to run on l's goroutine, and wakes l if it is
// blocked. It is safe to call from any goroutine, never blocks and does
// not allocate (pass a method expression or a top-level function and a
// pointer, as with operations; a closure allocates where it is created).
//
// The loop runs posted functions in the order their Posts took effect, at
// the start of its next pass (in RunFor, Run, Tick or Close), like
// callbacks: they may submit operations but must not drive the loop.
// If Post returns nil, fn runs exactly once, at the latest during Close.
// It returns ErrQueueFull when the inbox is full and ErrClosed once Close
// has begun; fn then never runs.
func Post[T any](l *Loop, ctx *T, fn func(ctx *T)) error {
	switch {
	case fn == nil:
		panic("ioloop: Post with a nil function")
	case l == nil:
		panic("ioloop: Post to a nil *Loop")
	}
	return l.post(postFunc[T](fn), unsafe.Pointer(ctx), nil)
}

// Message is Post from one loop to another: it must be called on from's
// goroutine (typically from one of its callbacks), and queues fn(ctx) to
// run on to's goroutine. The difference is the doorbell: when both loops
// run on io_uring and the kernel has IORING_OP_MSG_RING (Linux 5.18), a
// message that must wake a blocked loop rides in from's next submission
// instead of costing a system call of its own (an eventfd write), so a
// callback that messages several loops wakes them all with the batch it
// submits anyway. Elsewhere it wakes to as Post does. Results and
// guarantees are Post's.
func Message[T any](from, to *Loop, ctx *T, fn func(ctx *T)) error {
	switch {
	case fn == nil:
		panic("ioloop: Message with a nil function")
	case from == nil || to == nil:
		panic("ioloop: Message with a nil *Loop")
	case from.closed:
		panic("ioloop: Message from a closed Loop")
	}
	return to.post(postFunc[T](fn), unsafe.Pointer(ctx), from)
}

// post queues fn(ctx) in l's inbox and wakes l: directly, or by a doorbell
// from the loop from (Message).
func (l *Loop) post(fn postInvoker, ctx unsafe.Pointer, from *Loop) error {
	if !l.inbox.enter() {
		return ErrClosed
	}
	defer l.inbox.leave()
	if !l.inbox.push(fn, ctx) {
		return ErrQueueFull
	}
	if from == nil {
		l.wake.wake()
	} else {
		from.ring(l)
	}
	return nil
}

// Stop makes the RunFor or Run that is running (or the next one, if none
// is) return after finishing its current pass; a Tick is not affected.
// Each Stop ends one run. It is safe to call from any goroutine, including
// from callbacks and posted functions, and does nothing once the loop has
// closed. Operations in flight stay in flight.
func (l *Loop) Stop() {
	if !l.inbox.enter() {
		return
	}
	l.inbox.stopRequests.Add(1)
	l.wake.wake()
	l.inbox.leave()
}

// ring wakes to, which has new work in its inbox, from l's goroutine: by
// IORING_OP_MSG_RING in l's next submission when both are io_uring loops
// and the kernel can (see doorbells), otherwise directly. The caller holds
// to's inbox gate.
func (l *Loop) ring(to *Loop) {
	if l == to || !l.backend.canRingDoorbell(to) {
		to.wake.wake()
		return
	}
	if to.wake.state.Load() == loopAwake || to.wake.state.Swap(loopAwake) != loopInKernel {
		return // awake: it looks at its inbox before it sleeps again
	}
	if !l.backend.ringDoorbell(to) {
		to.wake.kernel() // no room in l's submission queue: ring directly
		return
	}
	if !l.inCallback || l.closing {
		// Outside callbacks nothing guarantees that l submits soon, and
		// Close may submit nothing more.
		l.backend.flush()
		return
	}
	l.doorbellQueued = true // Run and Tick may return without submitting: exit flushes
}

// runInbox takes what other goroutines handed the loop since the last
// pass: triggered Events complete their waiting operations, and posted
// functions run. It runs where callbacks run: posted functions are
// callbacks.
func (l *Loop) runInbox() {
	l.deliverTriggered()
	l.runPosted()
}

// deliverTriggered completes the WaitEvents of the Events triggered since
// the last pass, in trigger order.
func (l *Loop) deliverTriggered() {
	for e := l.inbox.takeTriggered(); e != nil; {
		next := e.nextTriggered // read before delivery lets e be triggered again
		l.eventTriggered(e)
		e = next
	}
}

// runPosted runs the posted functions, at most one inbox's worth, so that
// producers cannot keep the loop here forever.
func (l *Loop) runPosted() {
	if !l.inbox.queued() {
		return
	}
	l.inCallback = true
	for range len(l.inbox.cells) {
		fn, ctx, ok := l.inbox.pop()
		if !ok {
			break
		}
		fn.run(ctx)
	}
	l.inCallback = false
}

// takeStop reports whether a Stop asked the running RunFor or Run to
// return, and consumes that request.
func (l *Loop) takeStop() bool {
	for {
		requests := l.inbox.stopRequests.Load()
		if requests == 0 {
			return false
		}
		if l.inbox.stopRequests.CompareAndSwap(requests, requests-1) {
			return true
		}
	}
}
