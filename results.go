package ioloop

import "syscall"

// How an operation's result is recorded: one vocabulary for every backend.
//
// An operation is completed once its result is known: it is then in
// stateCompleted and waits in Loop.completed for its callback, which
// runCompleted runs. Every path there goes through exactly one of these:
//
//	complete(c, res)          A backend reports a raw result for an operation
//	                          it held: a count or a negated errno, as in an
//	                          io_uring CQE. The loop applies the conventions
//	                          every backend shares: io.EOF for a zero-byte
//	                          read, ErrCanceled, ErrNotFound for a Cancel
//	                          that found nothing, a Send continued until its
//	                          buffer is sent.
//	completeFast(c, res)      The inlinable part of complete, for results that
//	                          need no interpretation (most of them); false
//	                          means "call complete". The caller then retires
//	                          the token (retireToken), which keeps this within
//	                          the inlining budget of the io_uring reap loop.
//	completeWith(c, n, code)  A backend reports a result it has interpreted
//	                          itself: ErrCanceled for an operation it removed,
//	                          a readiness Send's total.
//	record(c, n, code)        The loop records a result that no backend
//	                          counted: NextTick, a Cancel answered without the
//	                          backend, ErrClosed during Close, an argument
//	                          rejected before submission. complete and
//	                          completeWith end here too.
//
// pending counts the operations handed to a backend and not completed:
// Loop.submit increments it, complete, completeFast and completeWith
// decrement it, record leaves it alone.
//
// Invariants, checked where they are cheap (each check is a compare and a
// branch that is never taken; side by side they cost nothing measurable in
// `ioloop bench nop`, so they are always on), with a panic that starts
// "ioloop: internal error:":
//   - pending never goes negative;
//   - a result is recorded once: never for a Completion already completed
//     or idle-after-callback, and a counted one is in flight or queued;
//   - a Completion is in one queue at a time (fifo.push).

// runByLoop marks the operations the loop itself runs, never a backend.
// It has 256 entries so that indexing by an opcode needs no bounds check.
var runByLoop = [256]bool{opNextTick: true, opCancel: true, opWaitEvent: true, opTimeout: true}

// completeWithoutBackend completes the submissions that need no backend
// work and reports whether it did.
func (l *Loop) completeWithoutBackend(c *Completion) bool {
	switch {
	case l.closing:
		if l.closed {
			l.misuse(c, c.op, false) // submitted after Close returned
		}
		l.record(c, 0, codeClosed)
		return true
	case c.op == opNextTick:
		l.record(c, 0, codeNone)
		return true
	case c.op == opCancel:
		return l.cancelWithoutBackend(c)
	case c.op == opWaitEvent:
		l.startWaitEvent(c)
		return true
	case c.op == opTimeout && !l.backendTimers:
		l.startTimer(c)
		return true
	}
	return false
}

// completeWith records the interpreted result of an operation a backend
// held (counted in pending).
func (l *Loop) completeWith(c *Completion, n int, code errorCode) {
	if c.state != stateInFlight && c.state != stateQueued {
		l.invariantBroken(c, "completing an operation the backend does not hold")
	}
	l.pending--
	if l.pending < 0 {
		l.invariantBroken(c, "pending operations went negative")
	}
	l.record(c, n, code)
}

// invariantBroken panics with what went wrong and where.
//
//go:noinline
func (l *Loop) invariantBroken(c *Completion, what string) {
	panic("ioloop: internal error: " + what + " (" + c.op.String() + ", " + c.state.String() + ")")
}

// record records a result and queues the callback.
func (l *Loop) record(c *Completion, n int, code errorCode) {
	if c.state == stateCompleted {
		l.invariantBroken(c, "recording a second result")
	}
	if c.token != 0 {
		l.inflight.remove(c.token)
		c.token = 0
	}
	if code != codeNone && (c.op == opAccept || c.op == opOpenAt || c.op == opAcceptMultishot) {
		n = -1 // never hand out 0 (stdin) as the descriptor of a failure
	}
	if pooledOps[c.op] {
		c.dropUnfilled()
		c.pool().users-- // its final result (pool.go: Close)
	}
	c.n, c.errCode = int32(n), code
	c.state = stateCompleted
	l.completed.push(c)
}

// cancelWithoutBackend answers a Cancel whose target is not in a backend.
// It returns false when the backend must be asked.
func (l *Loop) cancelWithoutBackend(c *Completion) bool {
	target := c.cancelTarget()
	switch target.state {
	case stateIdle, stateCompleted:
		l.record(c, 0, codeNotFound)
		return true
	case stateQueued:
		if l.backend.unqueue(target) {
			l.completeWith(target, target.progress(), codeCanceled)
			l.record(c, 0, codeNone)
			return true
		}
	case stateInFlight:
		if l.cancelHeldByLoop(target) {
			l.completeWith(target, 0, codeCanceled)
			l.record(c, 0, codeNone)
			return true
		}
	}
	c.setTargetToken(target.token)
	if target.link&linkMember != 0 {
		target.link |= linkCancelRequested // its ECANCELED is its own (chain.go)
	}
	if (target.op == opSend || target.op == opSendZC || retriedOnEAGAIN[target.op]) && target.send.cancelsInFlight < 255 {
		target.send.cancelsInFlight++
	}
	return false
}

// cancelHeldByLoop takes an in-flight operation that the loop itself holds
// (a Timeout in the timer heap, a WaitEvent) out of its place and reports
// whether it did; operations in a backend are not the loop's to take.
func (l *Loop) cancelHeldByLoop(target *Completion) bool {
	switch target.op {
	case opWaitEvent:
		l.unwait(target)
	case opTimeout:
		if l.backendTimers {
			return false
		}
		l.timers.remove(target)
	case opLinkTimeout:
		if l.backendTimers || target.link&linkArmed == 0 {
			return false
		}
		target.link &^= linkArmed
		l.timers.remove(target)
	case opRecvPooled, opRecvMultishot, opRecvFromMultishot:
		if target.wait.parked != parkedPool {
			return false
		}
		target.pool().waiters.remove(target)
		target.wait.parked = parkedNone
	default:
		return false
	}
	return true
}

// zeroNeedsCare marks the operations for which a zero result is not just
// "0": end of stream for reads, no progress for Send, a canceled target
// for Cancel.
// It has 256 entries so that indexing by an opcode needs no bounds check.
var zeroNeedsCare = [256]bool{opRecv: true, opRead: true, opReadv: true, opSend: true, opCancel: true,
	opReadFixed: true, opSendZC: true, opRecvPooled: true, opRecvMultishot: true}

// completeFast is the inlinable fast path of complete for the results that
// need no interpretation (most of them); it reports whether it handled
// res. Unlike complete it leaves the token to the caller (retireToken),
// which keeps it within the inlining budget (so it checks no invariant:
// a second result for a Completion still queued for its callback is
// caught by the completed FIFO, fifo.push).
func (l *Loop) completeFast(c *Completion, res int32) bool {
	if res < 0 || c.op == opSend || (res == 0 && zeroNeedsCare[c.op]) {
		return false
	}
	l.pending--
	c.n, c.errCode = res, codeNone
	c.state = stateCompleted
	l.completed.push(c)
	return true
}

// complete turns a raw kernel result (a value, or a negated errno) for an
// in-flight Completion into its n and err, applying the conventions every
// backend shares: io.EOF for a zero-byte read, ErrCanceled, a Timeout that
// expires is a success, Send continues until the whole buffer is sent.
func (l *Loop) complete(c *Completion, res int32) {
	if res >= 0 {
		n := int(res)
		switch c.op {
		case opSend, opSendZC:
			c.setSent(c.sent() + n)
			if n > 0 && c.sent() < len(c.io.buf) {
				l.continueSend(c)
				return
			}
			if c.sent() < len(c.io.buf) {
				l.completeWith(c, c.sent(), codeShortWrite)
				return
			}
			n = c.sent()
		case opRecv, opRead, opReadFixed:
			if n == 0 && len(c.io.buf) > 0 {
				l.completeWith(c, 0, codeEOF)
				return
			}
		case opRecvPooled, opRecvMultishot:
			if n == 0 {
				l.completeWith(c, 0, codeEOF)
				return
			}
		case opCancel:
			l.cancelVerdict(c, true)
		case opLinkTimeout:
			if c.link&linkArmed != 0 {
				l.fireLinkTimeout(c) // the simulator's timer event
				return
			}
		case opReadv:
			if n == 0 && totalLen(c.rare.bufs) > 0 {
				l.completeWith(c, 0, codeEOF)
				return
			}
		}
		l.completeWith(c, n, codeNone)
		return
	}
	full := syscall.Errno(-res) // on Windows, with the Windows code (errors_windows.go)
	errno := plainErrno(full)
	if errno == syscall.ENOBUFS && pooledOps[c.op] {
		l.parkOnPool(c, c.pool()) // every buffer is held: wait for a Release
		return
	}
	if c.op == opCancel {
		l.cancelVerdict(c, false)
		if t := c.cancelTarget(); errno == syscall.ENOENT && t.link&linkCancelRequested != 0 && t.token == c.targetToken() {
			t.link &^= linkCancelRequested // it found nothing: a later ECANCELED is not its
		}
	}
	var code errorCode
	switch {
	case c.op == opCancel && errno == syscall.ENOENT:
		code = codeNotFound
	default:
		code = errnoCode(full)
	}
	l.completeWith(c, c.progress(), code)
}

func totalLen(bufs [][]byte) int {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	return total
}

// continueSend decides what happens to a Send after a short, positive
// result: continue with the rest, end it (canceled, or the loop is
// closing), or park it until an outstanding Cancel says which.
func (l *Loop) continueSend(c *Completion) {
	switch {
	case c.send.canceled || l.closing:
		l.completeWith(c, c.sent(), codeCanceled)
	case c.send.cancelsInFlight > 0:
		c.send.parked = true // stays in flight, token kept, until cancelVerdict
	default:
		l.backend.resubmit(c)
	}
}

// retriedOnEAGAIN marks the receives that no backend ends with EAGAIN:
// Accept, Recv, RecvFrom and RecvMsg wait for data (or a connection)
// instead, whatever the descriptor's O_NONBLOCK says. The readiness
// backends wait for readiness on EAGAIN anyway; io_uring needs the loop's
// help. The kernel tries such a request without blocking, then waits for
// the socket to be readable and tries again, and when that second try
// finds nothing (another receive waiting on the same socket took the
// datagram, since one datagram wakes every waiter), it hands the request
// to an io-wq worker, which honours the socket's O_NONBLOCK and returns
// EAGAIN. Measured 2026-12-03: 2,142 of 72,514 datagrams with 64 RecvFrom
// in flight on one socket (docs/bench/udp.md). The io_uring backend
// submits such a request again (uringBackend.retryReceive), keeping its
// token (not in a chain, whose later operations the kernel has already
// canceled: there EAGAIN is the result); a Cancel aimed at it meanwhile is counted in send.cancelsInFlight,
// as for a Send, so that a canceled receive is never resubmitted. It has
// 256 entries so that indexing by an opcode needs no bounds check.
var retriedOnEAGAIN = [256]bool{opAccept: true, opRecv: true, opRecvFrom: true, opRecvMsg: true,
	opRecvPooled: true, opRecvMultishot: true, opAcceptMultishot: true, opRecvFromMultishot: true}

// cancelVerdict applies the kernel's answer to a Cancel aimed at a Send
// that may have made partial progress (see Completion.cancelsInFlight).
func (l *Loop) cancelVerdict(c *Completion, canceled bool) {
	t := c.cancelTarget()
	if t == nil || (t.op != opSend && t.op != opSendZC && !retriedOnEAGAIN[t.op]) || t.token != c.targetToken() || t.send.cancelsInFlight == 0 {
		return // the target finished or is another operation by now
	}
	t.send.cancelsInFlight--
	if canceled {
		t.send.canceled = true
	}
	if !t.send.parked || (!canceled && t.send.cancelsInFlight > 0) {
		return
	}
	t.send.parked = false
	l.continueSend(t)
}
