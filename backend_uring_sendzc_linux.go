package ioloop

import (
	"syscall"

	"github.com/ioloop/ioloop/internal/uring"
)

// Zero-copy send on io_uring (IORING_OP_SEND_ZC, 6.0). The kernel sends
// from the caller's pages instead of copying them into socket buffers, and
// so reports twice, with the same user_data:
//
//  1. the request's CQE: res is the bytes sent or a negated errno. If
//     IORING_CQE_F_MORE is set, a notification follows; if not (the
//     request failed before the kernel took the buffer: a bad descriptor,
//     invalid arguments), this CQE is the only one.
//  2. the notification (IORING_CQE_F_NOTIF, res 0): the kernel no longer
//     reads the buffer, which only now is the caller's again.
//
// So the loop keeps the first CQE's result (in n) until the notification
// arrives, and only then applies it as a Send's (Loop.complete: the rest
// of a short send is sent, a Cancel's verdict is awaited): one callback,
// after the buffer is free. The Completion keeps its token until then, so
// the kernel's notification finds it; Loop.Close waits for it too.

// prepSendZC fills the SQE of a SendZC: the rest of its buffer, as Send's.
func prepSendZC(sqe *uring.SQE, c *Completion) {
	sqe.Opcode = uring.OpSendZC
	setBuffer(sqe, c.io.buf[c.sent():])
	sqe.OpFlags = sendFlags
}

// completeSendZC takes one of a SendZC's CQEs.
func (b *uringBackend) completeSendZC(c *Completion, res int32, flags uint32) {
	switch {
	case flags&uring.CQEFNotif != 0:
		if !c.send.notifPending {
			b.loop.invariantBroken(c, "zero-copy notification without its request's CQE")
		}
		c.send.notifPending = false
		b.finishSendZC(c, c.n)
	case c.send.notifPending:
		b.loop.invariantBroken(c, "a second request CQE for a zero-copy send")
	case flags&uring.CQEFMore != 0:
		c.send.notifPending = true
		c.n = res
	default:
		b.finishSendZC(c, res)
	}
}

// finishSendZC applies a SendZC's result once the kernel has let go of its
// buffer. A socket family without a zero-copy path (AF_UNIX on 6.18)
// answers EOPNOTSUPP, with a notification, before sending anything; the
// SendZC then becomes the Send it is everywhere else, under the same
// token. That is decided on each SendZC (SendZC resets c.op): the loop
// does not remember a socket's family.
func (b *uringBackend) finishSendZC(c *Completion, res int32) {
	if res == -int32(syscall.EOPNOTSUPP) && c.sent() == 0 && !b.loop.isClosing() {
		c.op = opSend
		// Counted as a Send, as where the kernel lacks SEND_ZC (Loop.Stats).
		b.loop.opCounts[opSendZC].Submitted--
		b.loop.opCounts[opSend].Submitted++
		b.resubmit(c)
		return
	}
	b.loop.complete(c, res)
}
