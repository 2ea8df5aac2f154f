package ioloop

import "unsafe"

// SendZC is Send without the copy: the kernel sends from buf's own pages
// instead of copying them into socket buffers (io_uring's
// IORING_OP_SEND_ZC, Linux 6.0). It is meant for large buffers on a real
// network device, where it was not measured here. On loopback it loses:
// the kernel copies the pages anyway when it delivers them, so SendZC adds
// only the pinning and the wait for the notification (measured 2026-12-03:
// 0.41x Send's throughput at 64 KiB, 0.82x at 1 MiB; docs/BENCHMARKS.md,
// "Zero-copy send").
//
// Its results are Send's: n == len(buf) and a nil error, or the bytes sent
// before an error stopped it; short sends are continued. The difference
// is when the callback runs: only once the kernel has let go of buf, which
// on a real network can be when the peer has acknowledged the data, not
// when it was queued. Until the callback, buf must not be modified.
//
// Cancel and Loop.Close: a SendZC waiting for room is canceled as a Send
// is. One whose data is queued and whose buffer the kernel still holds
// cannot be called back early: Cancel answers ErrNotFound, and its own
// callback comes with the kernel's notification, for which Loop.Close
// waits too (on a connection whose peer stopped reading with a full
// window, as long as the connection lives).
//
// Where the kernel lacks IORING_OP_SEND_ZC (before 6.0), on a socket whose
// family has no zero-copy path (the kernel answers EOPNOTSUPP, as for
// AF_UNIX: the loop then sends it as a Send), and on the readiness
// backends and the simulator, SendZC is Send, with Send's results.
func SendZC[T any](l *Loop, c *Completion, fd int, buf []byte, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	l.prepare(c, opSendZC, callback == nil)
	c.op = opSend
	if l.fixed.nativeSendZC {
		c.op = opSendZC
	}
	c.setSendArguments(fd, buf)
	l.submit(c, unsafe.Pointer(ctx), countCallback[T](callback))
}
