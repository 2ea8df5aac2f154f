package ioloop

import (
	"net/netip"
	"unsafe"
)

// invoker restores the static type of a callback and its context. The loop
// stores callbacks as invokers so that one Completion type serves every
// context type without generics on Completion and without allocating:
// both implementations are func types, which are pointer-shaped, so
// converting them to an interface stores the pointer directly. The context
// travels as an unsafe.Pointer that only ever holds the *T the same typed
// operation function stored, so restoring it needs no run-time type check.
type invoker interface {
	invoke(ctx unsafe.Pointer, c *Completion, n int, err error)
}

// countCallback is the shape of operations that produce a count or a file
// descriptor: Recv, Send, Read, Write, Readv, Writev, Accept, OpenAt.
type countCallback[T any] func(ctx *T, c *Completion, n int, err error)

func (f countCallback[T]) invoke(ctx unsafe.Pointer, c *Completion, n int, err error) {
	f((*T)(ctx), c, n, err)
}

// errorCallback is the shape of operations whose only result is success or
// an error: Nop, NextTick, Timeout, Connect, Fsync, Close, Statx, Shutdown,
// Cancel.
type errorCallback[T any] func(ctx *T, c *Completion, err error)

func (f errorCallback[T]) invoke(ctx unsafe.Pointer, c *Completion, _ int, err error) {
	f((*T)(ctx), c, err)
}

// recvFromCallback is the shape of RecvFrom: a count and the sender. The
// sender is decoded at invoke time from the msghdr the kernel (or the
// simulator) filled, which releaseArguments leaves in place: the datagram
// path carries no address through the completed FIFO.
type recvFromCallback[T any] func(ctx *T, c *Completion, n int, from netip.AddrPort, err error)

func (f recvFromCallback[T]) invoke(ctx unsafe.Pointer, c *Completion, n int, err error) {
	var from netip.AddrPort
	if err == nil {
		from = c.messageSender()
	}
	f((*T)(ctx), c, n, from, err)
}

// recvMsgCallback is the shape of RecvMsg: a count, the control data's
// length, the message flags and the sender, all read from the msghdr at
// invoke time as recvFromCallback does.
type recvMsgCallback[T any] func(ctx *T, c *Completion, n, oobn, flags int, from netip.AddrPort, err error)

func (f recvMsgCallback[T]) invoke(ctx unsafe.Pointer, c *Completion, n int, err error) {
	var oobn, flags int
	var from netip.AddrPort
	if err == nil {
		msg := &c.rare.msg
		oobn, flags, from = int(msg.Controllen), int(msg.Flags), c.messageSender()
	}
	f((*T)(ctx), c, n, oobn, flags, from, err)
}
