package ioloop

import (
	"net/netip"
	"strings"
	"syscall"
	"time"
	"unsafe"
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
	c.op = opNop
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// NextTick runs callback on the loop's next pass without any system call.
// Use it to defer work out of a callback, or to yield between chunks of a
// long computation.
func NextTick[T any](l *Loop, c *Completion, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opNextTick, callback == nil)
	c.op = opNextTick
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Timeout calls back with a nil error once d has passed (measured on the
// monotonic clock), or ErrCanceled if it was canceled first. d <= 0 expires
// on the next pass that reaches the kernel; a d whose deadline would
// overflow (such as math.MaxInt64) never expires.
func Timeout[T any](l *Loop, c *Completion, d time.Duration, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opTimeout, callback == nil)
	c.op = opTimeout
	if d < 0 {
		d = 0
	}
	c.setDurationNs(int64(d))
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// TimeoutAt is Timeout with an absolute deadline, read on the loop's clock
// (Loop.Now: the monotonic reading of a time.Time from time.Now on the
// kernel backends, virtual time on the simulator). Re-arming an idle or
// request timeout at lastActivity.Add(limit) therefore never drifts, as
// repeated Timeouts of the remaining duration would. A deadline already
// past expires on the next pass.
func TimeoutAt[T any](l *Loop, c *Completion, deadline time.Time, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	Timeout(l, c, deadline.Sub(l.Now()), ctx, callback)
}

// Accept waits for a connection on the listening socket listenFD and calls
// back with the new socket's file descriptor, which is non-blocking and
// close-on-exec. On error the descriptor is -1. On the readiness backends
// (epoll, kqueue) a listener whose O_NONBLOCK is clear (as os.File.Fd()
// leaves it) is made non-blocking, which other holders of the descriptor
// see: accept(2) has no per-call flag that keeps it from blocking the loop.
func Accept[T any](l *Loop, c *Completion, listenFD int, ctx *T, callback func(ctx *T, c *Completion, fd int, err error)) {
	l.prepare(c, opAccept, callback == nil)
	c.op = opAccept
	c.fd = int32(listenFD)
	c.send.cancelsInFlight = 0 // see retriedOnEAGAIN
	l.submit(c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// Connect connects the stream socket fd (see TCPSocket) to addr. An invalid
// address fails with EINVAL through the callback. Like Accept, it makes a
// blocking socket non-blocking on the readiness backends.
func Connect[T any](l *Loop, c *Completion, fd int, addr netip.AddrPort, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opConnect, callback == nil)
	c.op = opConnect
	c.fd = int32(fd)
	size, errno := encodeInetSockaddr(addr, &c.attachRare().sockaddr)
	c.rare.sockaddrLen = size
	l.submitUnless(errno, c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// ConnectUnix connects the unix stream socket fd (see UnixSocket) to the
// socket at path; on Linux a leading '@' names an address in the abstract
// namespace (elsewhere '@' is an ordinary first character of a path). A
// path too long for sockaddr_un fails with EINVAL through the callback.
func ConnectUnix[T any](l *Loop, c *Completion, fd int, path string, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opConnect, callback == nil)
	c.op = opConnect
	c.fd = int32(fd)
	size, errno := encodeUnixSockaddr(path, &c.attachRare().sockaddr)
	c.rare.sockaddrLen = size
	l.submitUnless(errno, c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Recv receives up to len(buf) bytes from the socket fd and calls back with
// the count, which may be less than len(buf). At end of stream it calls
// back with 0 and io.EOF.
func Recv[T any](l *Loop, c *Completion, fd int, buf []byte, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	l.prepare(c, opRecv, callback == nil)
	c.op = opRecv
	c.fd = int32(fd)
	c.io.buf = buf
	c.send.cancelsInFlight = 0 // see retriedOnEAGAIN
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
	c.op = opSend
	c.setSendArguments(fd, buf)
	l.submit(c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// setSendArguments sets the arguments of Send and SendZC and resets
// their progress.
func (c *Completion) setSendArguments(fd int, buf []byte) {
	c.fd = int32(fd)
	c.io.buf = buf
	c.setSent(0)
	c.send = sendState{}
}

// Read reads up to len(buf) bytes from fd at offset (offset -1: at the
// file's current position, advancing it) and calls back with the count. At
// end of file it calls back with 0 and io.EOF. Like pread(2), it may return
// fewer bytes than asked; it does not loop.
//
// Offsets, the same on every backend (io_uring's rules): below -1 is
// EINVAL. On a descriptor without a position (a socket, a pipe, a
// terminal) 0 means the current position, like -1, and any other offset
// is ESPIPE (except a pipe's on io_uring, whose kernel ignores it: see
// docs/ARCHITECTURE.md, "Where the backends differ"). Such a descriptor may be blocking (O_NONBLOCK clear, like
// stdin): the operation waits for it without blocking the loop, and
// Loop.Close cancels it. On the readiness backends a blocking pipe or
// terminal that cannot be read or written without waiting any other way
// (a terminal; a pipe on the BSDs) is called once readiness is reported,
// and a Write there is cut to 512 bytes, which a writable pipe takes at
// once; another reader or writer of the same pipe taking the data or room
// first can still block the loop in that case.
func Read[T any](l *Loop, c *Completion, fd int, buf []byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	submitPositioned(l, c, opRead, fd, buf, offset, ctx, callback)
}

// Write writes buf to fd at offset (offset -1: at the file's current
// position) and calls back with the count. Like pwrite(2), it may write
// fewer bytes than asked; it does not loop. Offsets follow Read's rules.
//
// SIGPIPE: a Write (or Writev) to a socket whose peer has gone fails with
// EPIPE. On the readiness backends it is a send with MSG_NOSIGNAL, so no
// signal is raised (macOS: only on sockets with SO_NOSIGPIPE, which this
// package's sockets carry). On io_uring it is write(2), which also raises
// SIGPIPE: Go ignores it unless the program asked for it with
// signal.Notify, and then the program receives it. Send never raises it.
func Write[T any](l *Loop, c *Completion, fd int, buf []byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	submitPositioned(l, c, opWrite, fd, buf, offset, ctx, callback)
}

// Readv reads into bufs in order from fd at offset (-1: current position),
// like preadv(2). At end of file it calls back with 0 and io.EOF. Offsets
// follow Read's rules.
func Readv[T any](l *Loop, c *Completion, fd int, bufs [][]byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	submitVectored(l, c, opReadv, fd, bufs, offset, ctx, callback)
}

// Writev writes bufs in order to fd at offset (-1: current position), like
// pwritev(2). Offsets follow Read's rules, SIGPIPE Write's.
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

// Close closes fd. As with close(2), fd is released whatever error the
// kernel reports (EIO, EINTR, …); do not close it again. The two
// exceptions are results of the loop, not of close(2): ErrClosed (Close
// was submitted while the Loop was closing) and ErrCanceled (Loop.Close
// canceled it before it ran). Then the operation never ran and fd is still
// open: close it some other way, such as unix.Close, if nothing else will.
//
// Operations still waiting on fd (a Recv, Accept, a Read of a pipe) when
// Close runs: on the readiness backends they complete with ErrCanceled
// before Close's own callback, since the loop cannot wait on a descriptor
// that is gone. On io_uring each holds its own reference to the file and
// goes on: a Recv still receives what the peer sends, and the socket lives
// until it ends. On the simulator the socket is gone and a peer that
// writes resets them (ECONNRESET). To get the same result everywhere,
// Cancel them before closing.
//
// A descriptor registered with Loop.RegisterFile is unregistered first,
// whatever Close's outcome.
func Close[T any](l *Loop, c *Completion, fd int, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opClose, callback == nil)
	c.op = opClose
	c.fd = int32(fd)
	l.unregisterOnClose(fd) // the kernel's registered-file table would keep the file open
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// OpenAt opens path relative to the directory dirfd (unix.AT_FDCWD for the
// working directory) with open(2) flags and mode, and calls back with the
// new file descriptor, or -1 with an error. O_CLOEXEC is always added. A path containing a NUL
// byte fails with EINVAL through the callback.
func OpenAt[T any](l *Loop, c *Completion, dirfd int, path string, flags int, mode uint32, ctx *T, callback func(ctx *T, c *Completion, fd int, err error)) {
	l.prepare(c, opOpenAt, callback == nil)
	c.op = opOpenAt
	c.fd = int32(dirfd)
	c.flags = uint32(flags | sysO_CLOEXEC)
	c.attachRare().mode = mode
	l.submitUnless(c.setPath(path), c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// Shutdown shuts down part of a full-duplex connection, like shutdown(2):
// how is unix.SHUT_RD, unix.SHUT_WR or unix.SHUT_RDWR.
func Shutdown[T any](l *Loop, c *Completion, fd int, how int, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opShutdown, callback == nil)
	c.op = opShutdown
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
	c.op = opCancel
	if target == nil {
		panic("ioloop: Cancel with a nil target")
	}
	if target == c {
		panic("ioloop: Cancel with itself as the target")
	}
	if target.state != stateIdle && target.loop != l {
		panic("ioloop: Cancel target belongs to another Loop")
	}
	c.peer = unsafe.Pointer(target)
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// submitPositioned submits Read or Write.
func submitPositioned[T any](l *Loop, c *Completion, op opcode, fd int, buf []byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	l.prepare(c, op, callback == nil)
	c.op = op
	c.fd = int32(fd)
	c.io.buf = buf
	c.io.offset = offset
	c.flags = 0 // not durable (WriteDurable sets it)
	l.submitFile(offsetErrno(offset), c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// offsetErrno rejects an offset below -1 (EINVAL), as io_uring does:
// pread(2) would too, but read(2), which the readiness backends use for
// offset -1, would take any negative offset for "the current position".
func offsetErrno(offset int64) syscall.Errno {
	if offset < -1 {
		return syscall.EINVAL
	}
	return 0
}

// submitVectored submits Readv or Writev.
func submitVectored[T any](l *Loop, c *Completion, op opcode, fd int, bufs [][]byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	l.prepare(c, op, callback == nil)
	c.op = op
	c.fd = int32(fd)
	c.setIovecs(bufs)
	c.io.offset = offset
	c.flags = 0 // not durable (WritevDurable sets it)
	l.submitFile(offsetErrno(offset), c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// submitSync submits Fsync (flags 0) or Fdatasync (fsyncDatasync).
func submitSync[T any](l *Loop, c *Completion, fd int, flags uint32, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opFsync, callback == nil)
	c.op = opFsync
	c.fd = int32(fd)
	c.flags = flags
	l.fileOpsUnflushed++
	l.submit(c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// setIovecs builds the kernel-visible iovec array for bufs in storage the
// Completion owns and reuses, so that steady-state vectored I/O does not
// allocate.
func (c *Completion) setIovecs(bufs [][]byte) {
	c.attachRare()
	c.rare.bufs = bufs
	if cap(c.rare.iovecs) < len(bufs) {
		c.rare.iovecs = make([]sysIovec, len(bufs))
	}
	c.rare.iovecs = c.rare.iovecs[:len(bufs)]
	for i, b := range bufs {
		c.rare.iovecs[i].Base = unsafe.SliceData(b)
		c.rare.iovecs[i].SetLen(len(b))
	}
}

// setPath stores path NUL-terminated in storage the Completion reuses.
func (c *Completion) setPath(path string) syscall.Errno {
	return setNUL(&c.attachRare().pathNUL, path)
}

// setNUL stores path NUL-terminated in *dst, reusing its storage; a path
// containing a NUL byte is EINVAL.
func setNUL(dst *[]byte, path string) syscall.Errno {
	if strings.IndexByte(path, 0) >= 0 {
		return syscall.EINVAL
	}
	*dst = append((*dst)[:0], path...)
	*dst = append(*dst, 0)
	return 0
}

const fsyncDatasync = 1 // IORING_FSYNC_DATASYNC; the readiness backends use fdatasync(2)
