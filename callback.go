//go:build !windows

package ioloop

import "unsafe"

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
