package ioloop

import (
	"net/netip"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Every operation function has the same shape:
//
//	Op(loop, completion, arguments..., ctx, callback)
//
// ctx is any pointer of yours (typically the connection or request the
// operation belongs to) and callback receives it back with its static type.
// Passing a method expression such as (*Conn).onRecv as the callback and
// the *Conn as ctx costs no allocation, unlike a method value (conn.onRecv)
// or a closure, which allocate each time they are created.
//
// The loop keeps the Completion, the buffers and everything else the kernel
// may read or write referenced until the callback starts; the caller must
// not modify a buffer while an operation on it is in flight.
//
// Results: operations that produce a count or a file descriptor call back
// with (n int, err error); the others with (err error). I/O errors are
// syscall.Errno values (errors.Is(err, syscall.ECONNRESET) works), a
// canceled operation gets ErrCanceled, and a Recv, Read or Readv that
// reaches end of stream gets io.EOF with n == 0.

// Nop submits an operation that does nothing in the kernel. Its callback
// runs on a later pass; it measures the loop's own overhead.
func Nop[T any](l *Loop, c *Completion, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opNop, callback == nil)
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// NextTick runs callback on the loop's next pass without any system call.
// Use it to defer work out of a callback, or to yield between chunks of a
// long computation.
func NextTick[T any](l *Loop, c *Completion, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opNextTick, callback == nil)
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Timeout calls back with a nil error once d has passed (measured on the
// monotonic clock), or ErrCanceled if it was canceled first. d <= 0 expires
// on the next pass that reaches the kernel; a d whose deadline would
// overflow (such as math.MaxInt64) never expires.
func Timeout[T any](l *Loop, c *Completion, d time.Duration, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opTimeout, callback == nil)
	if d < 0 {
		d = 0
	}
	c.timeoutNs = int64(d)
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Accept waits for a connection on the listening socket listenFD and calls
// back with the new socket's file descriptor, which is non-blocking and
// close-on-exec. On error the descriptor is -1.
func Accept[T any](l *Loop, c *Completion, listenFD int, ctx *T, callback func(ctx *T, c *Completion, fd int, err error)) {
	l.prepare(c, opAccept, callback == nil)
	c.fd = int32(listenFD)
	l.submit(c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// Connect connects the stream socket fd (see TCPSocket) to addr. An invalid
// address fails with EINVAL through the callback.
func Connect[T any](l *Loop, c *Completion, fd int, addr netip.AddrPort, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opConnect, callback == nil)
	c.fd = int32(fd)
	size, errno := encodeInetSockaddr(addr, &c.sockaddr)
	c.sockaddrLen = size
	l.submitUnless(errno, c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// ConnectUnix connects the unix stream socket fd (see UnixSocket) to the
// socket at path; on Linux a leading '@' names an address in the abstract
// namespace (elsewhere '@' is an ordinary first character of a path). A
// path too long for sockaddr_un fails with EINVAL through the callback.
func ConnectUnix[T any](l *Loop, c *Completion, fd int, path string, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opConnect, callback == nil)
	c.fd = int32(fd)
	size, errno := encodeUnixSockaddr(path, &c.sockaddr)
	c.sockaddrLen = size
	l.submitUnless(errno, c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Recv receives up to len(buf) bytes from the socket fd and calls back with
// the count, which may be less than len(buf). At end of stream it calls
// back with 0 and io.EOF.
func Recv[T any](l *Loop, c *Completion, fd int, buf []byte, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	l.prepare(c, opRecv, callback == nil)
	c.fd = int32(fd)
	c.buf = buf
	l.submit(c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// Send sends all of buf on the socket fd. Like io.Writer, it completes
// with n == len(buf) and a nil error, or with the bytes sent before an
// error stopped it (n < len(buf), err != nil): short sends on stream
// sockets are continued by the loop, invisibly to the caller. It uses
// MSG_NOSIGNAL, so a peer that went away yields EPIPE, never SIGPIPE; macOS
// has no such flag, and relies on SO_NOSIGPIPE, which the sockets this
// package creates (ListenTCP, TCPSocket, ...) and accepts carry.
func Send[T any](l *Loop, c *Completion, fd int, buf []byte, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	l.prepare(c, opSend, callback == nil)
	c.fd = int32(fd)
	c.buf = buf
	c.transferred = 0
	c.cancelsInFlight, c.sendParked, c.sendCanceled = 0, false, false
	l.submit(c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// Read reads up to len(buf) bytes from fd at offset (offset -1: at the
// file's current position, advancing it) and calls back with the count. At
// end of file it calls back with 0 and io.EOF. Like pread(2), it may return
// fewer bytes than asked; it does not loop.
func Read[T any](l *Loop, c *Completion, fd int, buf []byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	submitPositioned(l, c, opRead, fd, buf, offset, ctx, callback)
}

// Write writes buf to fd at offset (offset -1: at the file's current
// position) and calls back with the count. Like pwrite(2), it may write
// fewer bytes than asked; it does not loop.
func Write[T any](l *Loop, c *Completion, fd int, buf []byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	submitPositioned(l, c, opWrite, fd, buf, offset, ctx, callback)
}

// Readv reads into bufs in order from fd at offset (-1: current position),
// like preadv(2). At end of file it calls back with 0 and io.EOF.
func Readv[T any](l *Loop, c *Completion, fd int, bufs [][]byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	submitVectored(l, c, opReadv, fd, bufs, offset, ctx, callback)
}

// Writev writes bufs in order to fd at offset (-1: current position), like
// pwritev(2).
func Writev[T any](l *Loop, c *Completion, fd int, bufs [][]byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	submitVectored(l, c, opWritev, fd, bufs, offset, ctx, callback)
}

// Fsync flushes fd's data and metadata to stable storage, like fsync(2).
func Fsync[T any](l *Loop, c *Completion, fd int, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	submitSync(l, c, fd, 0, ctx, callback)
}

// Fdatasync flushes fd's data, and only the metadata needed to read it back,
// like fdatasync(2): the usual choice for a write-ahead log.
func Fdatasync[T any](l *Loop, c *Completion, fd int, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	submitSync(l, c, fd, fsyncDatasync, ctx, callback)
}

// Close closes fd. As with close(2), fd is released even when an error is
// reported; do not close it again.
func Close[T any](l *Loop, c *Completion, fd int, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opClose, callback == nil)
	c.fd = int32(fd)
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// OpenAt opens path relative to the directory dirfd (unix.AT_FDCWD for the
// working directory) with open(2) flags and mode, and calls back with the
// new file descriptor, or -1 with an error. O_CLOEXEC is always added. A path containing a NUL
// byte fails with EINVAL through the callback.
func OpenAt[T any](l *Loop, c *Completion, dirfd int, path string, flags int, mode uint32, ctx *T, callback func(ctx *T, c *Completion, fd int, err error)) {
	l.prepare(c, opOpenAt, callback == nil)
	c.fd = int32(dirfd)
	c.flags = uint32(flags | unix.O_CLOEXEC)
	c.mode = mode
	l.submitUnless(c.setPath(path), c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// Shutdown shuts down part of a full-duplex connection, like shutdown(2):
// how is unix.SHUT_RD, unix.SHUT_WR or unix.SHUT_RDWR.
func Shutdown[T any](l *Loop, c *Completion, fd int, how int, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opShutdown, callback == nil)
	c.fd = int32(fd)
	c.flags = uint32(how)
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Cancel asks the loop to cancel the operation in flight on target, which
// must belong to the same Loop. The outcome is always one of:
//
//   - callback gets nil: target was canceled; its own callback gets
//     ErrCanceled (with the bytes already transferred, for Send).
//   - callback gets ErrNotFound: target was not in flight (never
//     submitted, or already completed); its callback runs, or ran, with its
//     own result.
//   - callback gets syscall.EALREADY: target was already executing and
//     could not be interrupted; its callback will get its own result.
//
// Both callbacks run exactly once. Canceling a Cancel is allowed and
// follows the same rules.
func Cancel[T any](l *Loop, c *Completion, target *Completion, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opCancel, callback == nil)
	if target == nil {
		panic("ioloop: Cancel with a nil target")
	}
	if target == c {
		panic("ioloop: Cancel with itself as the target")
	}
	if target.state != stateIdle && target.loop != l {
		panic("ioloop: Cancel target belongs to another Loop")
	}
	c.target = target
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// submitPositioned submits Read or Write.
func submitPositioned[T any](l *Loop, c *Completion, op opcode, fd int, buf []byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	l.prepare(c, op, callback == nil)
	c.fd = int32(fd)
	c.buf = buf
	c.offset = offset
	l.fileOpsUnflushed++
	l.submit(c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// submitVectored submits Readv or Writev.
func submitVectored[T any](l *Loop, c *Completion, op opcode, fd int, bufs [][]byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	l.prepare(c, op, callback == nil)
	c.fd = int32(fd)
	c.setIovecs(bufs)
	c.offset = offset
	l.fileOpsUnflushed++
	l.submit(c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// submitSync submits Fsync (flags 0) or Fdatasync (fsyncDatasync).
func submitSync[T any](l *Loop, c *Completion, fd int, flags uint32, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opFsync, callback == nil)
	c.fd = int32(fd)
	c.flags = flags
	l.fileOpsUnflushed++
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// setIovecs builds the kernel-visible iovec array for bufs in storage the
// Completion owns and reuses, so that steady-state vectored I/O does not
// allocate.
func (c *Completion) setIovecs(bufs [][]byte) {
	c.bufs = bufs
	if cap(c.iovecs) < len(bufs) {
		c.iovecs = make([]unix.Iovec, len(bufs))
	}
	c.iovecs = c.iovecs[:len(bufs)]
	for i, b := range bufs {
		c.iovecs[i].Base = unsafe.SliceData(b)
		c.iovecs[i].SetLen(len(b))
	}
}

// setPath stores path NUL-terminated in storage the Completion reuses.
func (c *Completion) setPath(path string) syscall.Errno {
	if strings.IndexByte(path, 0) >= 0 {
		return syscall.EINVAL
	}
	c.path = append(c.path[:0], path...)
	c.path = append(c.path, 0)
	return 0
}

const fsyncDatasync = 1 // IORING_FSYNC_DATASYNC; the readiness backends use fdatasync(2)
