package ioloop

import "unsafe"

// Pooled and multishot operations (issue 15). A pooled receive takes its
// buffer from a BufferPool when data arrives; a multishot operation stays
// armed and calls back once per result ("shot") until it ends.
//
// The shape of a multishot's life, the same on every backend:
//
//   - each shot calls back with a result and a nil error, and
//     Completion.More reports true inside that callback: the operation is
//     still in flight, and the Completion must not be reused;
//   - exactly one final callback ends it, with More false: an error,
//     io.EOF (a receive's peer closed), ErrCanceled (Cancel, or Loop.Close),
//     and nothing else. Its n is 0 (fd -1 for AcceptMultishot) and, for a
//     receive, buf is nil;
//   - where the kernel ends a multishot by itself while it is healthy (a
//     full completion queue, the buffers ran out), the loop arms it again,
//     invisibly.

// More reports, inside a callback, whether more callbacks of the same
// operation follow: true for a multishot operation's shots, false for its
// final callback and for every callback of an ordinary operation. Outside
// a callback it reports whether the Completion is still in flight, as
// Pending does.
func (c *Completion) More() bool { return c.state != stateIdle }

// pooledCallback is the shape of RecvPooled and RecvMultishot: the
// buffer the data landed in, from the pool c.peer names, whose id
// setDelivered left for the callback.
type pooledCallback[T any] func(ctx *T, c *Completion, buf []byte, err error)

func (f pooledCallback[T]) invoke(ctx unsafe.Pointer, c *Completion, n int, err error) {
	var buf []byte
	if id := c.io.offset; id >= 0 {
		buf = c.pool().deliver(uint16(id), n)
		c.io.offset = -1
	}
	f((*T)(ctx), c, buf, err)
}

// A pooled receive keeps two buffer ids, -1 for none: c.index is the
// buffer it holds while in flight (on the backends that take one before
// the data arrives: the simulator, io_uring without buffer rings), and
// c.io.offset the filled buffer its next callback gets. They differ
// because a multishot receive is armed again, possibly with a new buffer,
// before the callback of its last shot has run.

// setDelivered leaves filled buffer id for c's next callback.
func (c *Completion) setDelivered(id int32) { c.io.offset = int64(id) }

// pooledOps marks the receives that take their buffers from a
// BufferPool. It has 256 entries so that indexing by an opcode needs no
// bounds check.
var pooledOps = [256]bool{opRecvPooled: true, opRecvMultishot: true, opRecvFromMultishot: true}

// pool is a pooled receive's BufferPool.
func (c *Completion) pool() *BufferPool { return (*BufferPool)(c.peer) }

// RecvPooled receives once from the stream socket fd into a buffer of
// pool, taken only when data arrives. The callback gets the bytes
// received as buf, a slice of one of the pool's buffers that is the
// caller's until pool.Release(buf); or io.EOF (with buf nil) when the
// peer has closed its end, or another error. When every buffer of the
// pool is held, RecvPooled waits for a Release (BufferPool).
//
// pool must belong to l.
func RecvPooled[T any](l *Loop, c *Completion, fd int, pool *BufferPool, ctx *T, callback func(ctx *T, c *Completion, buf []byte, err error)) {
	l.prepare(c, opRecvPooled, callback == nil)
	c.op = opRecvPooled
	l.setPooled(c, fd, pool)
	l.submit(c, unsafe.Pointer(ctx), pooledCallback[T](callback))
}

// RecvMultishot receives from the stream socket fd into buffers of pool,
// calling back once per arrival with the bytes received, until the peer
// closes (io.EOF), an error, Cancel or Loop.Close ends it (see the
// comment on multishot operations above More). One RecvMultishot serves a
// connection for its whole life: no resubmission per message.
//
// Each shot's buf is the caller's until pool.Release(buf). When every
// buffer is held, the receive waits for a Release, without ending.
func RecvMultishot[T any](l *Loop, c *Completion, fd int, pool *BufferPool, ctx *T, callback func(ctx *T, c *Completion, buf []byte, err error)) {
	l.prepare(c, opRecvMultishot, callback == nil)
	c.op = opRecvMultishot
	l.setPooled(c, fd, pool)
	l.submit(c, unsafe.Pointer(ctx), pooledCallback[T](callback))
}

// setPooled sets the arguments of a pooled receive.
func (l *Loop) setPooled(c *Completion, fd int, pool *BufferPool) {
	switch {
	case pool == nil:
		panic("ioloop: " + c.op.String() + " with a nil *BufferPool")
	case pool.loop != l:
		panic("ioloop: " + c.op.String() + " with a BufferPool of another Loop")
	case pool.closed:
		panic("ioloop: " + c.op.String() + " with a closed BufferPool")
	}
	c.fd = int32(fd)
	c.peer = unsafe.Pointer(pool)
	c.index = -1
	c.io.buf, c.io.offset = nil, -1
	c.send.cancelsInFlight = 0 // see retriedOnEAGAIN
	pool.users++
}

// AcceptMultishot accepts connections on the listening socket listenFD,
// calling back once per connection with its descriptor (non-blocking,
// close-on-exec), until an error, Cancel or Loop.Close ends it with a
// final callback whose fd is -1 (see the comment on multishot operations
// above More). Errors of one connection that the kernel reports on the
// listening socket (ECONNABORTED) end it too: the caller decides whether
// to accept again.
func AcceptMultishot[T any](l *Loop, c *Completion, listenFD int, ctx *T, callback func(ctx *T, c *Completion, fd int, err error)) {
	l.prepare(c, opAcceptMultishot, callback == nil)
	c.op = opAcceptMultishot
	c.fd = int32(listenFD)
	c.send.cancelsInFlight = 0 // see retriedOnEAGAIN
	l.submit(c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// Shots. A multishot operation's result arrives while the operation stays
// in flight, and the next may arrive before the callback of the previous
// has run, so each shot travels through the completed FIFO in a Completion
// of its own, from a free list the loop keeps (grow-only: it allocates
// only when more shots wait for their callbacks than ever before). A shot
// carries the operation's opcode (Stats counts each callback), its result
// in n, the buffer id in index, and its operation in ctx; shotInvoker runs
// the operation's own callback. Shots go through runCompleted like any
// Completion, so the path of ordinary operations gains nothing; the
// operation itself is counted in pending once, until its final result.

// shotInvoker runs a shot's operation's callback.
type shotInvoker struct{}

func (shotInvoker) invoke(ctx unsafe.Pointer, s *Completion, n int, err error) {
	target := (*Completion)(ctx)
	target.setDelivered(s.index)
	l := s.loop
	s.ctx, s.loop = nil, nil
	l.shots.push(s) // free again before the callback, which may cause more shots
	target.cb.invoke(target.ctx, target, n, err)
}

// deliverShot queues one shot of the multishot operation target: n (a
// count or a descriptor) and the buffer id (-1: none).
func (l *Loop) deliverShot(target *Completion, n int32, bufID int32) {
	s := l.shots.pop()
	if s == nil {
		s = new(Completion)
	}
	s.op, s.loop, s.ctx, s.cb = target.op, l, unsafe.Pointer(target), shotInvoker{}
	s.n, s.errCode, s.index = n, codeNone, bufID
	s.state = stateCompleted
	l.completed.push(s)
}
