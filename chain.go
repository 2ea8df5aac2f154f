package ioloop

import (
	"strconv"
	"time"
	"unsafe"
)

// Linked operations: a chain of operations that run one after another, in
// submission order, each starting only once the one before it has
// succeeded. The first failure ends the chain: every operation after it
// completes with ErrChainBroken without running.
//
// On io_uring a chain is the kernel's (IOSQE_IO_LINK, and
// IORING_OP_LINK_TIMEOUT for LinkTimeout): it reaches the submission queue
// in one piece, and the kernel starts each operation when the previous one
// completes, without a pass of the loop in between. On the readiness
// backends and the simulator the loop runs the chain itself, written once
// here: it hands the backend one operation at a time and, when that one's
// result is known, starts the next one or breaks the rest. Results are the
// same on every backend; what differs is only the latency between links
// (one loop pass on the emulated backends).
//
// Bookkeeping. Every operation of a chain carries linkFlags in
// Completion.link, and its successor in rare.chainNext; the first one
// carries the length in rare.chainLength. Operations waiting for their
// predecessor are submitted (Pending, counted in Loop.pending, in
// stateQueued) but held by the loop, not by the backend: Cancel finds
// nothing there (ErrNotFound), as on io_uring, where the kernel has not
// started them either. Loop.releaseLinked, called by runCompleted before a
// linked operation's callback, maps its result, moves the chain on and
// orders the callbacks of an operation and its LinkTimeout (the
// operation's first).

// linkFlags is a Completion's place in a chain.
type linkFlags uint16

const (
	// linkMember: the operation belongs to a chain.
	linkMember linkFlags = 1 << iota
	// linkFirst: the chain's first operation.
	linkFirst
	// linkToNext: an operation after this one depends on it.
	linkToNext
	// linkTimed: the next operation is this one's LinkTimeout.
	linkTimed
	// linkArmed: (LinkTimeout, emulated chains) its timer runs.
	linkArmed
	// linkTimedOut: (emulated chains) the operation's LinkTimeout fired
	// and canceled it.
	linkTimedOut
	// linkParked: the callback waits for its partner's verdict (an
	// operation and its LinkTimeout).
	linkParked
	// linkPartnerDone: (LinkTimeout) the timed operation's callback has
	// been released; linkPartnerBroken: it never ran (ErrChainBroken).
	linkPartnerDone
	linkPartnerBroken
	// linkCancelRequested: a Cancel aimed at this operation, so an
	// ECANCELED from io_uring is its own cancellation, not a broken chain.
	linkCancelRequested
	// linkRejected: the operation's arguments were rejected at submission
	// (errCode holds why); the whole chain fails at EndChain.
	linkRejected
	// linkEmulated: the loop runs this chain, not the kernel.
	linkEmulated
)

// codeLinkTimeoutFired is how io_uring reports a LinkTimeout that fired
// and canceled its operation: -ETIME, Linux's errno 62 (a constant here,
// since other systems number ETIME differently, and only io_uring has
// native chains).
const codeLinkTimeoutFired errorCode = 62

// chainBuilder collects the operations submitted between BeginChain and
// EndChain.
type chainBuilder struct {
	open        bool
	first, last *Completion
	length      int
	rejected    bool
}

// BeginChain starts a chain: the operations submitted from now until
// EndChain run one after another, in submission order, each only once the
// one before it has succeeded, as in
//
//	l.BeginChain()
//	ioloop.Write(l, &w, fd, record, offset, log, (*Log).onWrite)
//	ioloop.Fdatasync(l, &s, fd, log, (*Log).onSync)
//	l.EndChain()
//
// Every operation still gets exactly one callback. An operation fails the
// chain when its callback gets an error, and also when a Read, Write,
// Readv or Writev is short (the kernel's rule: the next operation assumed
// the whole buffer). The operations after a failed one complete with
// ErrChainBroken without running; during Close, with ErrCanceled. An
// operation whose arguments are rejected at submission (EINVAL for a bad
// offset, say) fails the whole chain: the others complete with
// ErrChainBroken, and none runs.
//
// Cancel the chain by canceling the operation that is running: Cancel of
// an operation that has not started yet finds nothing (ErrNotFound), on
// every backend. Operations the loop runs itself (NextTick, Timeout,
// Cancel, WaitEvent) cannot be part of a chain; submitting one panics. On
// io_uring the chain must fit in the submission queue (Options.Entries);
// a longer one panics at EndChain.
//
// BeginChain panics if a chain is already open.
func (l *Loop) BeginChain() {
	if l.chain.open {
		panic("ioloop: BeginChain while a chain is open; call EndChain first (chains do not nest)")
	}
	l.chain = chainBuilder{open: true}
}

// EndChain ends the chain BeginChain started and submits it. A chain of
// one operation is an ordinary submission; an empty chain does nothing.
// EndChain panics if no chain is open.
func (l *Loop) EndChain() {
	ch := l.chain
	if !ch.open {
		panic("ioloop: EndChain without BeginChain")
	}
	l.chain = chainBuilder{}
	if ch.first == nil {
		return
	}
	ch.first.link |= linkFirst
	ch.first.rare.chainLength = int32(ch.length)
	if ch.rejected {
		l.rejectChain(ch.first)
		return
	}
	if l.backend.submitChain(ch.first, ch.length) {
		return
	}
	for c := ch.first; c != nil; c = c.rare.chainNext {
		c.link |= linkEmulated
	}
	l.startLinked(ch.first)
}

// LinkTimeout bounds the operation submitted just before it, in the same
// chain, to d: if that operation has not completed when d has passed, it
// is canceled and its callback gets ErrTimedOut (which matches
// os.ErrDeadlineExceeded). The timer starts when the operation starts. So
//
//	l.BeginChain()
//	ioloop.Recv(l, &r, fd, buf, conn, (*Conn).onRecv)
//	ioloop.LinkTimeout(l, &t, 5*time.Second, conn, (*Conn).onRecvTimeout)
//	l.EndChain()
//
// receives, but gives up after 5 s. The LinkTimeout's own callback runs
// after the operation's, with nil if it fired and canceled the operation,
// ErrCanceled if the operation completed first (or the chain was canceled),
// syscall.EALREADY if it fired but the operation could not be interrupted
// (a file operation already running: it completes with its own result),
// and ErrChainBroken if the operation never ran. A LinkTimeout does not
// break the chain: the operations after it depend on the timed
// operation's success. d <= 0 fires as soon as the operation starts; a d
// whose deadline would overflow never fires.
//
// LinkTimeout panics outside a chain, as the first operation of one, and
// right after another LinkTimeout.
func LinkTimeout[T any](l *Loop, c *Completion, d time.Duration, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opLinkTimeout, callback == nil)
	c.op = opLinkTimeout
	switch {
	case !l.chain.open:
		panic("ioloop: LinkTimeout outside a chain; submit it right after the operation it bounds, between BeginChain and EndChain")
	case l.chain.last == nil:
		panic("ioloop: LinkTimeout as the first operation of a chain; submit it right after the operation it bounds")
	case l.chain.last.op == opLinkTimeout:
		panic("ioloop: LinkTimeout right after another LinkTimeout; an operation has at most one")
	}
	c.setDurationNs(max(int64(d), 0))
	c.attachRare().timeout = sysNsecToTimespec(c.durationNs())
	c.peer = unsafe.Pointer(l.chain.last)
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// addToChain takes a submission made while a chain is open; code, if not
// codeNone, is why its arguments were rejected.
func (l *Loop) addToChain(c *Completion, code errorCode) {
	if runByLoop[c.op] {
		panic("ioloop: " + c.op.String() + " cannot be part of a chain; only I/O operations and LinkTimeout can")
	}
	ch := &l.chain
	c.link = linkMember
	c.state = stateQueued
	l.pending++
	rare := c.attachRare()
	rare.chainNext = nil
	if code != codeNone {
		c.link |= linkRejected
		c.errCode = code
		ch.rejected = true
	}
	if ch.last == nil {
		ch.first = c
	} else {
		ch.last.link |= linkToNext
		ch.last.rare.chainNext = c
		if c.op == opLinkTimeout {
			ch.last.link |= linkTimed
		}
	}
	ch.last = c
	ch.length++
}

// rejectChain completes a chain one of whose operations was rejected at
// submission: that one with its error, the others with ErrChainBroken.
func (l *Loop) rejectChain(first *Completion) {
	for c := first; c != nil; {
		next := c.rare.chainNext
		code := codeChainBroken
		if c.link&linkRejected != 0 {
			code = c.errCode
		}
		c.link = 0
		l.completeWith(c, 0, code)
		c = next
	}
}

// startLinked hands an emulated chain's next operation to the backend, and
// starts the timer of its LinkTimeout.
func (l *Loop) startLinked(c *Completion) {
	l.backend.submit(c)
	if c.link&linkTimed == 0 {
		return
	}
	t := c.rare.chainNext
	t.link |= linkArmed
	if l.backendTimers {
		l.backend.submit(t) // the simulator keeps it as an event of its world
		return
	}
	t.state = stateInFlight
	l.timers.push(t, addSaturatingNs(l.nowNs(), t.durationNs()))
}

// fireLinkTimeout runs when an emulated chain's LinkTimeout expires: its
// operation is canceled, and the LinkTimeout completes with the verdict.
func (l *Loop) fireLinkTimeout(t *Completion) {
	t.link &^= linkArmed
	target := t.cancelTarget()
	target.link |= linkTimedOut
	code := l.backend.abandon(target)
	if code != codeNone {
		target.link &^= linkTimedOut
	}
	l.completeWith(t, 0, code)
}

// disarmLinkTimeout stops an emulated LinkTimeout whose operation
// completed first: it completes with ErrCanceled.
func (l *Loop) disarmLinkTimeout(t *Completion) {
	t.link &^= linkArmed
	if t.state == stateCompleted {
		return // Close canceled it already
	}
	if l.backendTimers {
		l.backend.abandon(t)
		return
	}
	l.timers.remove(t)
	l.completeWith(t, 0, codeCanceled)
}

// releaseLinked is runCompleted's step for an operation of a chain, before
// its callback. It reports whether the callback may run now; false: it is
// parked until its partner (an operation and its LinkTimeout) settles, and
// runs from the partner's release.
func (l *Loop) releaseLinked(c *Completion) bool {
	if c.op == opLinkTimeout {
		return l.releaseLinkTimeout(c)
	}
	native := c.link&linkEmulated == 0
	if native && c.errCode == codeCanceled && c.link&(linkFirst|linkCancelRequested) == 0 && !l.closing {
		// The kernel canceled an operation that never ran, because an
		// earlier one failed; unless its LinkTimeout canceled it.
		c.errCode = codeChainBroken
		if c.link&linkTimed != 0 {
			c.errCode = codeCanceled // the verdict waits for the LinkTimeout
		}
	}
	if c.link&linkTimed != 0 {
		t := c.rare.chainNext
		if native && c.errCode == codeCanceled && t.state != stateCompleted {
			// Canceled by its LinkTimeout, by a Cancel, or for a broken
			// chain: the LinkTimeout's CQE, still to come, says which.
			c.link |= linkParked
			l.parkedCallbacks++
			return false
		}
		if c.errCode == codeCanceled {
			switch {
			case c.link&linkTimedOut != 0, native && t.errCode == codeLinkTimeoutFired:
				c.errCode = codeTimedOut
			case native && c.link&(linkFirst|linkCancelRequested) == 0 && !l.closing && t.errCode == codeCanceled:
				c.errCode = codeChainBroken
			}
		}
		if t.link&linkArmed != 0 {
			l.disarmLinkTimeout(t)
		}
		t.link |= linkPartnerDone
		if c.errCode == codeChainBroken {
			t.link |= linkPartnerBroken
		}
		if t.link&linkParked != 0 {
			t.link &^= linkParked
			l.parkedCallbacks--
			l.draining.pushFront(t) // right after this callback
		}
	}
	if !native && c.link&linkToNext != 0 {
		l.advanceChain(c)
	}
	c.link = 0
	return true
}

// releaseLinkTimeout is releaseLinked for a LinkTimeout: its callback runs
// after its operation's.
func (l *Loop) releaseLinkTimeout(t *Completion) bool {
	if t.link&linkPartnerDone == 0 {
		t.link |= linkParked
		l.parkedCallbacks++
		if target := t.cancelTarget(); target.link&linkParked != 0 {
			// The operation waits for this verdict: release it first (it
			// puts this LinkTimeout back in line after itself).
			target.link &^= linkParked
			l.parkedCallbacks--
			l.draining.pushFront(target)
		}
		return false
	}
	switch {
	case t.errCode == codeLinkTimeoutFired:
		t.errCode = codeNone // io_uring: it fired and canceled the operation
	case t.link&linkPartnerBroken != 0:
		t.errCode = codeChainBroken
	case t.errCode == codeNotFound:
		t.errCode = codeCanceled // io_uring: it fired as the operation finished
	}
	t.link = 0
	return true
}

// advanceChain moves an emulated chain on from c, whose result is final:
// the next operation starts if c succeeded, and every later one completes
// with ErrChainBroken (ErrCanceled during Close) if it did not.
func (l *Loop) advanceChain(c *Completion) {
	next := c.rare.chainNext
	if c.link&linkTimed != 0 {
		next = next.rare.chainNext // its LinkTimeout settles with it
	}
	if next == nil {
		return
	}
	if linkSucceeded(c) {
		l.startLinked(next)
		return
	}
	code := codeChainBroken
	if l.closing {
		code = codeCanceled
	}
	for m := next; m != nil; m = m.rare.chainNext {
		m.link &^= linkToNext // nothing left to advance to
		if m.op == opLinkTimeout {
			m.link |= linkPartnerDone | linkPartnerBroken
		}
		l.completeWith(m, 0, code)
	}
}

// linkSucceeded reports whether c lets its chain go on: no error, and no
// short transfer for the operations the kernel holds to their length.
func linkSucceeded(c *Completion) bool {
	if c.errCode != codeNone {
		return false
	}
	switch c.op {
	case opRead, opWrite:
		return c.count() == len(c.io.buf)
	case opReadv, opWritev:
		return c.count() == totalLen(c.rare.bufs)
	}
	return true
}

// dropChain takes back a chain that will not be submitted (a programming
// error is about to panic), so that no operation of it stays pending.
func (l *Loop) dropChain(first *Completion) {
	for c := first; c != nil; {
		next := c.rare.chainNext
		c.rare.chainNext = nil
		c.link, c.state = 0, stateIdle
		l.pending--
		c = next
	}
}

// chainTooLong panics for a chain the io_uring submission queue cannot
// hold in one piece, after taking it back.
func (l *Loop) chainTooLong(first *Completion, length int, entries uint32) {
	l.dropChain(first)
	panic("ioloop: EndChain: a chain of " + strconv.Itoa(length) + " operations does not fit in the submission queue (" +
		strconv.Itoa(int(entries)) + " entries); raise Options.Entries or split the chain")
}
