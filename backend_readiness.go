//go:build linux || darwin || freebsd || netbsd || openbsd

package ioloop

import (
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"github.com/ioloop/ioloop/internal/poller"
	"golang.org/x/sys/unix"
)

// readinessBackend runs operations where the kernel offers readiness
// notification instead of completion: epoll on Linux, kqueue on BSD and
// macOS. Everything here is shared; the per-OS part is the poller
// (internal/poller) and the thin system call wrappers (backend_readiness_sys_*.go).
//
// Path of an operation: submit queues it (as io_uring queues an SQE), and
// the next poll (or an early flush) starts it:
//
//   - Network operations try their system call in userland. If it would
//     block, the Completion waits in its fd's readers or writers FIFO and
//     the poller is armed one-shot for that direction; when the fd becomes
//     ready the loop tries again. A Recv that found less than a full
//     buffer last time waits first instead of trying (see fdState), which
//     saves a failing system call per message in request/response traffic.
//   - Timeouts are the loop's own (timers.go): the earliest one bounds
//     the timeoutNs that poll gets.
//   - File operations, which readiness cannot make non-blocking, run on
//     the bounded worker pool (backend_readiness_workers.go), which wakes the poller when it
//     has results.
//
// Results go through Loop.complete like io_uring's CQEs, so both kinds of
// backend share every convention (io.EOF, ErrCanceled, fd -1 on failure).
type readinessBackend struct {
	kernelClock
	kernelSockets
	noDoorbells
	emulatedChains
	loop   *Loop
	poller poller.Poller

	// queued holds submitted operations not started yet, in order. They
	// are in flight for the loop (see submit).
	queued fifo
	// queuedSeen is queued's high-water mark, kernelEnters counts the
	// poller's waits (Stats).
	queuedSeen   overflowWatermark
	kernelEnters uint64
	// fds is indexed by file descriptor below denseFDs; it grows on
	// demand (doubling, up to denseFDs) and never shrinks, like the
	// kernel's own table. Descriptors from denseFDs up have their records
	// in bigFDs, made when such a descriptor turns out to be open and
	// dropped when the loop closes it, so that memory follows the
	// descriptors in use, not the largest number a program hands the loop
	// (fd 1<<30 used to cost a 60 GB table).
	fds      []fdState
	denseFDs int
	bigFDs   map[int32]*fdState
	// fdWaiters counts completions waiting in fds; when it is zero and the
	// loop must not block, poll skips the poller entirely.
	fdWaiters int
	files     filePool
	// filesInPool counts operations handed to the workers and not yet
	// collected.
	filesInPool int
	// sleepTimer bounds sleepWithoutPoller; it is reused, never
	// reallocated.
	sleepTimer *time.Timer
	// lockedThread (Options.LockedThread): the loop owns its thread, so
	// it always waits in the poller. Parking a goroutine locked to a
	// thread does not free the thread, and waking it means handing it
	// back to that very thread: measured 1.6× the latency and 1.8× the
	// CPU per wakeup of an eventfd write into epoll_wait (43 against
	// 26 µs a hop, BenchmarkRemotePingPong/epoll/Post, 2026-11-21).
	lockedThread bool
}

// fdState is the per-descriptor record.
type fdState struct {
	readers fifo // Accept, Recv
	writers fifo // Send, Connect
	poll    poller.State
	// recvWaitFirst: the last Recv returned less than its buffer (the
	// peer had said all it had), so the next Recv waits for readiness
	// before trying, which in request/response traffic saves a system call
	// that would fail with EAGAIN. After a full buffer, or on a new
	// descriptor, a Recv tries first, as io_uring does.
	recvWaitFirst bool
	// kind is what the descriptor is, learned (fstat) at its first Read,
	// Write, Readv or Writev: a file goes to the workers, a socket, pipe
	// or terminal never does (see startReadWrite).
	kind fdKind
	// blocking: O_NONBLOCK was clear when kind was learned.
	blocking bool
	// noNowait: the kernel refused RWF_NOWAIT on this pipe or terminal.
	noNowait bool
	// nonblockSet: Accept or Connect made sure O_NONBLOCK is set.
	nonblockSet bool
}

// fdKind is what a descriptor is, for Read, Write, Readv and Writev.
type fdKind uint8

const (
	fdKindUnknown fdKind = iota
	fdKindFile           // regular file, block or other device: the workers
	fdKindSocket         // recv/send with MSG_DONTWAIT (and MSG_NOSIGNAL)
	fdKindStream         // a pipe or terminal: readiness, then read/write
)

// waitsBeforeTrying reports whether an operation on the descriptor must
// wait for readiness before its system call: a blocking pipe or terminal
// that cannot be read or written without waiting any other way
// (RWF_NOWAIT is Linux's, and terminals refuse it).
func (st *fdState) waitsBeforeTrying() bool {
	return st.kind == fdKindStream && st.blocking && (st.noNowait || !haveNowait)
}

func newReadinessBackend(l *Loop, opts Options) (*readinessBackend, error) {
	entries := int(opts.Entries)
	if entries == 0 {
		entries = DefaultEntries
	}
	workers := opts.FileWorkers
	if workers == 0 {
		workers = DefaultFileWorkers
	}
	b := &readinessBackend{kernelClock: newKernelClock(), loop: l, lockedThread: opts.LockedThread,
		denseFDs: denseFDLimit()}
	if err := b.poller.Open(entries); err != nil {
		return nil, &SetupError{Backend: readinessBackendKind, Err: err,
			Reason: "cannot create the " + readinessBackendKind.String() + " instance"}
	}
	l.setKernelWake(b.poller.Wake)
	b.files.init(workers, l.wakeLoop)
	b.sleepTimer = time.NewTimer(time.Hour)
	b.sleepTimer.Stop()
	return b, nil
}

// submit accepts c as in flight at once, as io_uring does when its SQ has
// room: the operation is the backend's from now on, and a Cancel submitted
// after it is processed after it starts, so both backends answer a Cancel
// the same way (a Nop has finished by then: ErrNotFound).
func (b *readinessBackend) submit(c *Completion) {
	c.state = stateInFlight
	b.queued.push(c)
}

func (b *readinessBackend) resubmit(c *Completion) { b.submit(c) }

// unqueue never takes an operation back: submitted operations count as in
// flight (see submit).
func (b *readinessBackend) unqueue(*Completion) bool { return false }

// flush starts the queued operations now rather than at the next poll.
func (b *readinessBackend) flush() { b.startQueued() }

// poll implements backend.poll: start what was submitted, wait for
// readiness or file results up to timeoutNs, which the loop's earliest
// timer already bounds (never while callbacks are ready), then act on all
// of them.
func (b *readinessBackend) poll(timeoutNs int64) error {
	b.startQueued()
	b.collectFiles()
	waitNs := int64(0)
	if timeoutNs != 0 && !b.loop.callbacksReady() {
		waitNs = timeoutNs
	}
	if waitNs != 0 && b.fdWaiters == 0 && !b.lockedThread {
		b.sleepWithoutPoller(waitNs)
	} else if waitNs != 0 || b.fdWaiters > 0 {
		if waitNs != 0 && !b.loop.announceSleep(loopInKernel, &b.files.doneCount) {
			waitNs = 0
		}
		b.kernelEnters++
		count, err := b.poller.Wait(waitNs)
		b.loop.awake()
		if err != nil {
			return err
		}
		for i := 0; i < count; i++ {
			if fd, readable, writable := b.poller.Event(i); fd >= 0 {
				b.onReady(fd, readable, writable)
			}
		}
	}
	if b.filesInPool > 0 && waitNs == 0 && b.files.doneCount.Load() == 0 {
		// A non-blocking pass with file operations outstanding yields the
		// processor once: with GOMAXPROCS=1 a program that polls in a
		// tight loop would otherwise keep the workers from ever running
		// (until the runtime preempts it, some 10 ms later).
		runtime.Gosched()
	}
	b.collectFiles()
	return nil
}

// sleepWithoutPoller blocks when nothing waits on a descriptor: only a
// worker's result or a timer can end the wait, so the goroutine parks in
// the Go scheduler instead of blocking its thread in the kernel. That
// matters for file-heavy loops: a thread blocked in epoll_wait keeps its P
// until the runtime's monitor retakes it (20 µs or more), while a parked
// goroutine frees it at once for the workers, whose results it waits for.
func (b *readinessBackend) sleepWithoutPoller(waitNs int64) {
	if !b.loop.announceSleep(loopParked, &b.files.doneCount) {
		return
	}
	if waitNs < 0 {
		<-b.loop.parkedWakeups()
	} else {
		b.sleepTimer.Reset(time.Duration(waitNs))
		select {
		case <-b.loop.parkedWakeups():
		case <-b.sleepTimer.C:
		}
		b.sleepTimer.Stop()
	}
	b.loop.awake()
}

// startQueued starts every operation queued so far. Operations queued
// while it runs (none today: starting never submits) would wait for the
// next call, which bounds the loop.
func (b *readinessBackend) startQueued() {
	b.queuedSeen.observe(b.queued.size)
	queued := b.queued.takeAll()
	for c := queued.pop(); c != nil; c = queued.pop() {
		b.start(c)
	}
}

func (b *readinessBackend) start(c *Completion) {
	l := b.loop
	switch c.op {
	case opNop:
		l.completeWith(c, 0, codeNone)
	case opAccept, opRecv, opSend, opSendTo, opRecvFrom, opSendMsg, opRecvMsg,
		opRecvPooled, opRecvMultishot, opAcceptMultishot, opRecvFromMultishot:
		b.startPollable(c)
	case opConnect:
		b.startConnect(c)
	case opShutdown:
		l.complete(c, -int32(sysShutdown(int(c.fd), int(c.flags))))
	case opClose:
		b.startClose(c)
	case opCancel:
		b.cancel(c)
	case opRead, opWrite, opReadv, opWritev:
		b.startReadWrite(c)
	case opFsync, opOpenAt, opStatx, opFallocate, opFtruncate, opRenameat, opUnlinkat,
		opMkdirat, opLinkat, opSymlinkat, opFadvise, opSyncFileRange:
		b.toWorkers(c)
	default:
		panic("ioloop: internal error: readiness backend cannot start " + c.op.String())
	}
}

// denseFDLimit is where the dense part of the fd table ends: the
// process's soft RLIMIT_NOFILE (the kernel hands out no descriptor at or
// above it), at least 1<<16 and at most 1<<20 (Linux's default nr_open):
// at most some 80 MB of table, and only if descriptors that high are used.
func denseFDLimit() int {
	limit := 1 << 16
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		// Cur is uint64 or int64 by system; RLIM_INFINITY is negative as int64.
		soft := int64(rl.Cur)
		if soft < 0 || soft > 1<<20 {
			soft = 1 << 20
		}
		limit = max(limit, int(soft))
	}
	return limit
}

// record returns fd's record if it has one, or nil (for fd < 0 too).
func (b *readinessBackend) record(fd int32) *fdState {
	switch {
	case fd < 0:
		return nil
	case int(fd) < len(b.fds):
		return &b.fds[fd]
	case int(fd) < b.denseFDs:
		return nil
	}
	return b.bigFDs[fd]
}

// fdRecord returns the record for fd, making it; nil for fd < 0. Callers
// make records only for descriptors that are open (an operation waits on
// it, or fstat succeeded), so that EBADF costs no memory.
func (b *readinessBackend) fdRecord(fd int32) *fdState {
	if fd < 0 {
		return nil
	}
	if int(fd) < b.denseFDs {
		if int(fd) >= len(b.fds) {
			grown := make([]fdState, min(max(int(fd)+1, 2*len(b.fds), 64), b.denseFDs))
			copy(grown, b.fds)
			b.fds = grown
		}
		return &b.fds[fd]
	}
	st := b.bigFDs[fd]
	if st == nil {
		if b.bigFDs == nil {
			b.bigFDs = make(map[int32]*fdState)
		}
		st = new(fdState)
		b.bigFDs[fd] = st
	}
	return st
}

// resetRecord forgets what the loop knew of fd's file, for the next file
// to get the number.
func (b *readinessBackend) resetRecord(fd int32, st *fdState) {
	*st = fdState{}
	if int(fd) >= b.denseFDs {
		delete(b.bigFDs, fd)
	}
}

// startReadWrite starts a Read, Write, Readv or Writev. A file goes to the
// workers. A socket, pipe or terminal never does: on a blocking one the
// worker would block until data or room came, and Close would wait for it
// (a Read of stdin would hang shutdown). It waits for readiness like a
// Recv instead, and its offset is no position: 0, like -1, means the
// current one, anything else is ESPIPE (io_uring's rule; pread(2) would
// refuse even 0).
func (b *readinessBackend) startReadWrite(c *Completion) {
	st := b.record(c.fd)
	if st == nil || st.kind == fdKindUnknown {
		kind, blocking, errno := sysClassify(int(c.fd))
		if errno != 0 { // EBADF, without making a record
			b.loop.complete(c, -int32(errno))
			return
		}
		st = b.fdRecord(c.fd)
		st.kind, st.blocking = kind, blocking
	}
	switch {
	case st.kind == fdKindFile:
		b.toWorkers(c)
	case c.io.offset > 0:
		b.loop.complete(c, -int32(syscall.ESPIPE))
	case c.op == opRead && len(c.io.buf) == 0 && st.kind == fdKindSocket:
		// read(2) of nothing on a socket returns at once (the kernel's
		// "match SYS5 behaviour"), where recv(2) waits for data; it does
		// not queue behind waiting Recvs either.
		b.loop.complete(c, 0)
	default:
		b.startPollable(c)
	}
}

// sysClassify learns what fd is, and whether it blocks.
func sysClassify(fd int) (kind fdKind, blocking bool, errno syscall.Errno) {
	var stat unix.Stat_t
	if err := unix.Fstat(fd, &stat); err != nil {
		return fdKindUnknown, false, errnoOf(err)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return fdKindUnknown, false, errnoOf(err)
	}
	blocking = flags&unix.O_NONBLOCK == 0
	switch uint32(stat.Mode) & unix.S_IFMT {
	case unix.S_IFSOCK:
		return fdKindSocket, blocking, 0
	case unix.S_IFIFO:
		return fdKindStream, blocking, 0
	case unix.S_IFCHR:
		if sysIsTerminal(fd) {
			return fdKindStream, blocking, 0
		}
	}
	return fdKindFile, blocking, 0
}

// ensureNonblock sets O_NONBLOCK on fd unless it is set. Accept and
// Connect have no per-call "don't wait" flag (MSG_DONTWAIT is for data),
// so on a blocking socket they would block the loop; this is what Go's
// net.FileListener and net.FileConn do to the descriptors they are given.
func ensureNonblock(fd int) syscall.Errno {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return errnoOf(err)
	}
	if flags&unix.O_NONBLOCK != 0 {
		return 0
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags|unix.O_NONBLOCK)
	return errnoOf(err)
}

// readyNonblocking makes sure a socket handed to Accept or Connect is
// non-blocking, once per record, and returns the record (nil if fd has
// none yet: a Connect that completes at once makes none).
func (b *readinessBackend) readyNonblocking(c *Completion) (*fdState, syscall.Errno) {
	st := b.record(c.fd)
	if st != nil && st.nonblockSet {
		return st, 0
	}
	if errno := ensureNonblock(int(c.fd)); errno != 0 {
		return nil, errno
	}
	st = b.fdRecord(c.fd)
	st.nonblockSet = true
	return st, 0
}

// startPollable starts an operation on a pollable descriptor (Accept,
// Recv, Send, or a Read or Write that found a non-blocking descriptor not
// ready): it tries the system call unless others already wait on the fd
// in that direction (they go first) or a Recv is better off waiting
// (fdState.recvWaitFirst).
func (b *readinessBackend) startPollable(c *Completion) {
	st := b.record(c.fd)
	if c.op == opAccept || c.op == opAcceptMultishot {
		var errno syscall.Errno
		if st, errno = b.readyNonblocking(c); errno != 0 {
			b.loop.complete(c, -int32(errno))
			return
		}
	}
	if st == nil { // no record yet: try, and make one only to wait (EBADF costs nothing)
		res, done := b.attempt(c, nil)
		if done {
			b.completeAttempt(c, res)
			return
		}
		b.park(c, b.fdRecord(c.fd))
		return
	}
	tryNow := st.waitersFor(c.op).empty() && (c.op != opRecv || !st.recvWaitFirst) && !st.waitsBeforeTrying()
	if tryNow {
		if res, done := b.attempt(c, st); done {
			b.completeAttempt(c, res)
			return
		}
	}
	b.park(c, st)
}

// startConnect issues connect(2); unless it finishes at once, the
// Completion waits for writability, which signals the outcome.
func (b *readinessBackend) startConnect(c *Completion) {
	if _, errno := b.readyNonblocking(c); errno != 0 {
		b.loop.complete(c, -int32(errno))
		return
	}
	errno := sysConnect(int(c.fd), &c.rare.sockaddr, c.rare.sockaddrLen)
	switch errno {
	case 0:
		b.loop.complete(c, 0)
		return
	case syscall.EINPROGRESS, syscall.EINTR, syscall.EALREADY:
		// The connection proceeds in the background (after EINTR too,
		// per POSIX); writability reports its end, SO_ERROR its outcome.
		c.wait.connectIssued = true
	case syscall.EAGAIN:
		// A unix socket whose listener's backlog is full: connect again
		// once writable.
		c.wait.connectIssued = false
	default: // including EBADF for a negative fd
		b.loop.complete(c, -int32(errno))
		return
	}
	b.park(c, b.fdRecord(c.fd))
}

// startClose closes fd. Operations still waiting on it complete with
// ErrCanceled first: the loop cannot wait on a descriptor that no longer
// exists, and the number, free for reuse now, must not wake them.
// (io_uring differs: there each request holds its own reference to the
// file and goes on; ops.go, Close.) A descriptor the poller has seen is a
// socket or a pipe, which closes without blocking, so the loop closes it
// inline; anything else (a file, whose close may flush) goes to a worker.
func (b *readinessBackend) startClose(c *Completion) {
	st := b.record(c.fd)
	if st == nil || !st.poll.Registered {
		if st != nil {
			b.cancelWaiters(c.fd, st)
		}
		b.toWorkers(c)
		return
	}
	b.poller.Forget(int(c.fd), &st.poll)
	b.cancelWaiters(c.fd, st)
	b.loop.complete(c, -int32(sysClose(int(c.fd))))
}

// cancelWaiters completes st's waiters with ErrCanceled and resets fd's
// record for the next file to get the descriptor's number.
func (b *readinessBackend) cancelWaiters(fd int32, st *fdState) {
	for _, waiters := range st.waiterLists() {
		for c := waiters.pop(); c != nil; c = waiters.pop() {
			b.fdWaiters--
			c.wait.parked = parkedNone
			b.loop.completeWith(c, c.progress(), codeCanceled)
		}
	}
	b.resetRecord(fd, st)
}

// park makes c wait for its fd and arms the poller for what the fd's
// waiters need.
func (b *readinessBackend) park(c *Completion, st *fdState) {
	c.wait.parked = parkedRead
	if waitsForWrite(c.op) {
		c.wait.parked = parkedWrite
	}
	st.waitersFor(c.op).push(c)
	b.fdWaiters++
	b.arm(int(c.fd), st)
}

func waitsForWrite(op opcode) bool {
	return op == opSend || op == opConnect || op == opWrite || op == opWritev || op == opSendTo || op == opSendMsg
}

// waitersFor returns the FIFO where operations like op wait.
func (st *fdState) waitersFor(op opcode) *fifo {
	if waitsForWrite(op) {
		return &st.writers
	}
	return &st.readers
}

func (st *fdState) waiterLists() [2]*fifo { return [2]*fifo{&st.readers, &st.writers} }

// unpark removes the head waiter after its attempt finished it.
func (b *readinessBackend) unpark(waiters *fifo) {
	waiters.pop().wait.parked = parkedNone
	b.fdWaiters--
}

// arm asks the poller for the directions st's waiters need. If the poller
// refuses (the fd is not pollable, or closed), each waiter is tried once
// so that its own system call reports the real error; one that would
// still block fails with the poller's error instead of waiting forever.
func (b *readinessBackend) arm(fd int, st *fdState) {
	read, write := !st.readers.empty(), !st.writers.empty()
	if !read && !write {
		return
	}
	errno := b.poller.Arm(fd, &st.poll, read, write)
	if errno == 0 {
		return
	}
	for _, waiters := range st.waiterLists() {
		for !waiters.empty() {
			c := waiters.head
			res, done := b.attempt(c, st)
			if !done {
				res = -int32(errno)
			}
			b.unpark(waiters)
			b.completeAttempt(c, res)
		}
	}
}

// onReady runs the waiters of fd that the event may have unblocked, in
// FIFO order until one would block, then re-arms for those left.
func (b *readinessBackend) onReady(fd int, readable, writable bool) {
	st := b.record(int32(fd))
	if st == nil {
		return // a stale event for a descriptor the loop never waited on
	}
	// One event ends every one-shot interest in fd (epoll disarms the
	// whole registration); kqueue may still hold the other direction,
	// which at worst produces one spurious event.
	st.poll.ArmedRead, st.poll.ArmedWrite = false, false
	if readable {
		b.runWaiters(&st.readers, st)
	}
	if writable {
		b.runWaiters(&st.writers, st)
	}
	b.arm(fd, st)
}

// runWaiters attempts waiters from the head until one would block. It is
// bounded by the FIFO's length at entry: attempts never add waiters. On a
// descriptor whose system calls can block, one readiness event pays for
// one attempt only: the first may take all there was.
func (b *readinessBackend) runWaiters(waiters *fifo, st *fdState) {
	limit := waiters.size
	if st.waitsBeforeTrying() {
		limit = min(limit, 1)
	}
	for ; limit > 0 && !waiters.empty(); limit-- {
		c := waiters.head
		res, done := b.attempt(c, st)
		if !done {
			return
		}
		b.unpark(waiters)
		b.completeAttempt(c, res)
	}
}

// attempt performs c's system call for a socket that may be ready and
// reports whether c is done; res is the raw result (count, descriptor or
// negated errno; for Send, 0 or a negated errno, its progress being in
// c.transferred). EINTR is retried, boundedly.
func (b *readinessBackend) attempt(c *Completion, st *fdState) (res int32, done bool) {
	switch c.op {
	case opRecvPooled, opRecvMultishot, opAcceptMultishot, opRecvFromMultishot:
		return b.attemptPooled(c)
	}
	fd := int(c.fd)
	for retry := 0; retry < maxEINTRRetries; retry++ {
		var n int
		var errno syscall.Errno
		switch c.op {
		case opRecv:
			buf := c.io.buf[:min(len(c.io.buf), maxIOLen)]
			n, errno = sysRecv(fd, buf)
			if st != nil && errno == 0 {
				st.recvWaitFirst = n < len(buf)
			}
		case opAccept:
			n, errno = sysAccept(fd)
			if errno == 0 {
				b.forgetNewFD(n)
			}
		case opSend:
			return b.attemptSend(c)
		case opSendTo, opSendMsg:
			// A datagram goes whole or not at all: never continued.
			n, errno = sysSendMessage(fd, c.rare)
		case opRecvFrom, opRecvMsg:
			c.rearmReceive()
			n, errno = sysRecvMessage(fd, c.rare)
		case opConnect:
			return b.attemptConnect(c)
		case opRead, opWrite, opReadv, opWritev:
			if st == nil || st.kind == fdKindFile {
				// A file the worker found non-blocking and not ready; now
				// that it is, the call cannot block the loop.
				if res := runFileOp(c); res != -int32(syscall.EAGAIN) {
					return res, true
				}
				return 0, false
			}
			n, errno = streamIO(c, st)
			if errno == syscall.EOPNOTSUPP && st.kind == fdKindStream && st.blocking && !st.noNowait {
				st.noNowait = true // a terminal, or a kernel before 5.x: wait first from now on
				return 0, false
			}
		default:
			panic("ioloop: internal error: readiness backend cannot attempt " + c.op.String())
		}
		switch errno {
		case 0:
			return int32(n), true
		case syscall.EAGAIN:
			return 0, false
		case syscall.EINTR:
			continue
		}
		return -int32(errno), true
	}
	return -int32(syscall.EINTR), true
}

// maxShotsPerReadiness bounds the shots one readiness event gives a
// multishot operation, so that one busy connection cannot starve the
// others waiting in the same pass; the rest waits for the next event
// (the poller is re-armed, and reports the fd readable again at once).
const maxShotsPerReadiness = 16

// attemptPooled performs a pooled or multishot operation on a socket that
// may be ready. A pooled receive takes its buffer now, when there is data
// to put in it, and gives it back if there was none; with no free buffer
// it reports ENOBUFS, on which the loop parks it on its pool
// (Loop.parkOnPool). A multishot operation delivers its shots directly
// (Loop.deliverShot) and is done only at its final result.
func (b *readinessBackend) attemptPooled(c *Completion) (res int32, done bool) {
	fd := int(c.fd)
	retries := 0
	for shots := 0; shots < maxShotsPerReadiness; {
		var n int
		var errno syscall.Errno
		id := uint16(0)
		if c.op == opAcceptMultishot {
			n, errno = sysAccept(fd)
			if errno == 0 {
				b.forgetNewFD(n)
			}
		} else {
			var ok bool
			pool := c.pool()
			if id, ok = pool.take(); !ok {
				return -int32(syscall.ENOBUFS), true
			}
			buf := pool.buffer(id)
			datagram := c.op == opRecvFromMultishot
			if datagram {
				c.pointDatagramReceive(buf)
				n, errno = sysRecvMessage(fd, c.rare)
			} else {
				n, errno = sysRecv(fd, buf[:min(len(buf), maxIOLen)])
			}
			switch {
			case errno != 0 || n == 0 && !datagram: // nothing, or a stream's end
				pool.giveBack(id)
			case datagram:
				c.writeDatagramHeader(buf, n)
				pool.fill(id) // a zero-length datagram too
			default:
				pool.fill(id)
			}
		}
		switch {
		case errno == syscall.EINTR && retries < maxEINTRRetries:
			retries++
			continue
		case errno == syscall.EAGAIN:
			return 0, false
		case errno != 0:
			return -int32(errno), true
		case c.op == opRecvPooled:
			if n > 0 {
				c.setDelivered(int32(id))
			}
			return int32(n), true
		case n == 0 && c.op == opRecvMultishot:
			return 0, true // a stream's end: the multishot's final
		}
		bufID := int32(id)
		if c.op == opAcceptMultishot {
			bufID = -1
		}
		b.loop.deliverShot(c, int32(n), bufID)
		shots++
	}
	return 0, false
}

// attemptConnect finishes a Connect once its socket is writable. A
// connection issued earlier reports failure through SO_ERROR; success is
// confirmed by calling connect(2) again, which on Linux is what moves the
// socket to the connected state (io_uring does the same, so a later
// Connect gets EISCONN on both backends), and which reports EISCONN on the
// BSDs. A unix socket refused with EAGAIN (full backlog) simply connects
// again.
func (b *readinessBackend) attemptConnect(c *Completion) (res int32, done bool) {
	fd := int(c.fd)
	if c.wait.connectIssued {
		if errno := sysSocketError(fd); errno != 0 {
			return -int32(errno), true
		}
	}
	switch errno := sysConnect(fd, &c.rare.sockaddr, c.rare.sockaddrLen); errno {
	case 0:
		return 0, true
	case syscall.EISCONN:
		if c.wait.connectIssued {
			return 0, true
		}
		return -int32(errno), true
	case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
		c.wait.connectIssued = true
		return 0, false // a spurious wakeup: still connecting
	case syscall.EAGAIN:
		return 0, false
	default:
		return -int32(errno), true
	}
}

// attemptSend sends as much of the rest of c.buf as the socket takes. Each
// pass either moves bytes or returns, so it is bounded by the buffer.
func (b *readinessBackend) attemptSend(c *Completion) (res int32, done bool) {
	interrupted := 0
	for {
		rest := c.io.buf[c.sent():]
		n, errno := sysSend(int(c.fd), rest[:min(len(rest), maxIOLen)])
		switch {
		case errno == syscall.EAGAIN:
			return 0, false
		case errno == syscall.EINTR && interrupted < maxEINTRRetries:
			interrupted++
			continue
		case errno != 0:
			return -int32(errno), true
		}
		c.setSent(c.sent() + n)
		if c.sent() >= len(c.io.buf) || n == 0 {
			return 0, true
		}
	}
}

// streamIO performs a Read, Write, Readv or Writev on a socket, pipe or
// terminal, at its current position, without blocking: a socket with
// recv/send and MSG_DONTWAIT (MSG_NOSIGNAL too: a Write to a socket whose
// peer went away is EPIPE, never SIGPIPE); a blocking pipe with
// preadv2/pwritev2 and RWF_NOWAIT (Linux); a non-blocking pipe or
// terminal with the plain calls, which answer EAGAIN. What is left, a
// blocking pipe or terminal without RWF_NOWAIT, is called only once
// readiness was reported (waitsBeforeTrying), and a write is cut to
// _POSIX_PIPE_BUF bytes, which a writable pipe always takes at once.
func streamIO(c *Completion, st *fdState) (int, syscall.Errno) {
	fd := int(c.fd)
	buf := c.io.buf[:min(len(c.io.buf), maxIOLen)]
	switch {
	case st.kind == fdKindSocket:
		switch c.op {
		case opRead:
			return sysRecv(fd, buf)
		case opWrite:
			return sysSend(fd, buf)
		case opReadv:
			return sysRecvmsg(fd, c.rare.iovecs, c.rare.bufs)
		default:
			return sysSendmsg(fd, c.rare.iovecs, c.rare.bufs)
		}
	case st.blocking && haveNowait && !st.noNowait:
		var iovecs []unix.Iovec
		var one [1]unix.Iovec
		if c.op == opRead || c.op == opWrite {
			one[0].Base = unsafe.SliceData(buf)
			one[0].SetLen(len(buf))
			iovecs = one[:]
		} else {
			iovecs = c.rare.iovecs // Readv and Writev attached it
		}
		return sysNowait(fd, c.op == opWrite || c.op == opWritev, iovecs)
	case c.op == opRead:
		return sysRead(fd, buf)
	case c.op == opReadv:
		return sysReadv(fd, c.rare.iovecs, c.rare.bufs, -1)
	case !st.blocking && c.op == opWrite:
		return sysWrite(fd, buf)
	case !st.blocking:
		return sysWritev(fd, c.rare.iovecs, c.rare.bufs, -1)
	}
	if c.op == opWritev { // the first buffer with bytes in it: a short write
		for _, b := range c.rare.bufs {
			if len(b) > 0 {
				buf = b
				break
			}
		}
	}
	return sysWrite(fd, buf[:min(len(buf), posixPipeBufBytes)])
}

// posixPipeBufBytes is _POSIX_PIPE_BUF, the least PIPE_BUF of any system:
// a pipe that reports writable has at least that much room.
const posixPipeBufBytes = 512

// completeAttempt reports a finished attempt to the loop.
func (b *readinessBackend) completeAttempt(c *Completion, res int32) {
	if c.op != opSend {
		b.loop.complete(c, res)
		return
	}
	switch {
	case res < 0:
		b.loop.completeWith(c, c.sent(), errnoCode(syscall.Errno(-res)))
	case c.sent() < len(c.io.buf):
		b.loop.completeWith(c, c.sent(), codeShortWrite)
	default:
		b.loop.completeWith(c, c.sent(), codeNone)
	}
}

// forgetNewFD resets the record of a descriptor number the kernel just
// handed out, so that nothing known about an earlier file with the same
// number (poller registration, Recv habits) applies to the new one.
func (b *readinessBackend) forgetNewFD(fd int) {
	if st := b.record(int32(fd)); st != nil && st.readers.empty() && st.writers.empty() {
		b.resetRecord(int32(fd), st)
	}
}

// toWorkers hands a file operation to the worker pool.
func (b *readinessBackend) toWorkers(c *Completion) {
	c.wait.parked = parkedFile
	b.filesInPool++
	b.files.submit(c)
}

// collectFiles completes the operations the workers finished.
func (b *readinessBackend) collectFiles() {
	finished := b.files.takeDone()
	for c := finished.pop(); c != nil; c = finished.pop() {
		c.wait.parked = parkedNone
		b.filesInPool--
		res := c.n
		switch {
		case res == -int32(syscall.EAGAIN) && (c.op == opRead || c.op == opWrite || c.op == opReadv || c.op == opWritev):
			// A non-blocking pipe, socket or terminal that is not ready:
			// io_uring waits for it, so wait for readiness too (without
			// trying again: the worker just did). During Close nothing
			// would ever cancel it: it is canceled now.
			if b.loop.isClosing() {
				b.loop.completeWith(c, c.progress(), codeCanceled)
				continue
			}
			b.park(c, b.fdRecord(c.fd))
			continue
		case c.op == opOpenAt && res >= 0:
			b.forgetNewFD(int(res))
		}
		b.loop.complete(c, res)
	}
}

// cancel resolves a Cancel whose target was in flight when it was
// submitted. Unlike io_uring, the loop itself knows where every waiting
// operation is, so the answer is immediate: the target is removed and
// fails with ErrCanceled, or is found running on a worker (EALREADY: it
// will complete on its own), or has completed since (ErrNotFound).
func (b *readinessBackend) cancel(c *Completion) {
	l := b.loop
	t := c.cancelTarget()
	if canceledInThisPass(l, t) {
		l.completeWith(c, 0, codeNone)
		return
	}
	if t.state != stateInFlight || t.loop != l {
		l.completeWith(c, 0, codeNotFound)
		return
	}
	l.completeWith(c, 0, b.abandon(t))
}

// abandon implements backend.abandon, and does the work of a Cancel whose
// target t is in flight: t is taken from wherever it waits (the queue of
// operations to start, its fd's waiters, the worker pool's queue) and
// completes with ErrCanceled; one a worker is running cannot be stopped.
func (b *readinessBackend) abandon(t *Completion) errorCode {
	l := b.loop
	switch t.wait.parked {
	case parkedRead, parkedWrite:
		if !b.record(t.fd).waitersFor(t.op).remove(t) {
			panic("ioloop: internal error: parked operation not in its fd's FIFO")
		}
		b.fdWaiters--
	case parkedFile:
		if !b.files.cancel(t) {
			return errorCode(syscall.EALREADY)
		}
		b.filesInPool--
	default:
		if !b.queued.remove(t) {
			return codeNotFound
		}
	}
	t.wait.parked = parkedNone
	l.completeWith(t, t.progress(), codeCanceled)
	return codeNone
}

// canceledInThisPass reports whether t, which a Cancel found in flight when
// it was submitted, has been canceled since and its callback has not run
// yet: another Cancel of the same pass got there first. io_uring answers 0
// to both (the kernel still finds the request, whose CQE it has not
// posted), so this one answers nil too: t was canceled, and gets one
// ErrCanceled either way.
func canceledInThisPass(l *Loop, t *Completion) bool {
	return t.loop == l && t.state == stateCompleted && t.errCode == codeCanceled
}

// cancelAll cancels everything that has not started running on a worker;
// Close waits for the rest.
func (b *readinessBackend) cancelAll() {
	l := b.loop
	cancel := func(c *Completion) {
		c.wait.parked = parkedNone
		l.completeWith(c, c.progress(), codeCanceled)
	}
	for c := b.queued.pop(); c != nil; c = b.queued.pop() {
		cancel(c)
	}
	cancelWaiters := func(st *fdState) {
		for _, waiters := range st.waiterLists() {
			for c := waiters.pop(); c != nil; c = waiters.pop() {
				b.fdWaiters--
				cancel(c)
			}
		}
	}
	for i := range b.fds {
		cancelWaiters(&b.fds[i])
	}
	for _, st := range b.bigFDs {
		cancelWaiters(st)
	}
	queued := b.files.cancelQueued()
	for c := queued.pop(); c != nil; c = queued.pop() {
		b.filesInPool--
		cancel(c)
	}
}

// backendStats implements statsBackend.
func (b *readinessBackend) backendStats() backendStats {
	return b.queuedSeen.stats(b.kernelEnters, b.queued.size)
}

func (b *readinessBackend) close() error {
	b.files.stop()
	return b.poller.Close()
}

// maxIOLen caps the length of one kernel read or write at Linux's
// MAX_RW_COUNT (2 GiB - 4 KiB): the kernel rejects longer sends with
// EINVAL, io_uring's 32-bit SQE length wraps at 4 GiB (a 4 GiB Read would
// become a zero-length one and report a false io.EOF), and results must
// fit the Completion's 32-bit count. Reads and writes may be short anyway;
// Send continues with the rest.
const maxIOLen = 1<<31 - 4096
