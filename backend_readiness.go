//go:build linux || darwin || freebsd || netbsd || openbsd

package ioloop

import (
	"github.com/ioloop/ioloop/internal/poller"
	"runtime"
	"syscall"
	"time"
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
	loop   *Loop
	poller poller.Poller

	// queued holds submitted operations not started yet, in order. They
	// are in flight for the loop (see submit).
	queued fifo
	// fds is indexed by file descriptor; it grows on demand and never
	// shrinks (like the kernel's own table).
	fds []fdState
	// fdWaiters counts completions waiting in fds; when it is zero and the
	// loop must not block, poll skips the poller entirely.
	fdWaiters int
	// orphans are operations whose fd the loop closed while they waited.
	// As on io_uring, they stay in flight until canceled.
	orphans fifo
	files   filePool
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
	b := &readinessBackend{kernelClock: newKernelClock(), loop: l, lockedThread: opts.LockedThread}
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
	case opAccept, opRecv, opSend:
		b.startPollable(c)
	case opConnect:
		b.startConnect(c)
	case opShutdown:
		l.complete(c, -int32(sysShutdown(int(c.fd), int(c.flags))))
	case opClose:
		b.startClose(c)
	case opCancel:
		b.cancel(c)
	case opRead, opWrite, opReadv, opWritev, opFsync, opOpenAt, opStatx:
		b.toWorkers(c)
	default:
		panic("ioloop: internal error: readiness backend cannot start " + c.op.String())
	}
}

// fdRecord returns the record for fd, growing the table; nil for fd < 0.
func (b *readinessBackend) fdRecord(fd int32) *fdState {
	if fd < 0 {
		return nil
	}
	if int(fd) >= len(b.fds) {
		grown := make([]fdState, max(int(fd)+1, 2*len(b.fds), 64))
		copy(grown, b.fds)
		b.fds = grown
	}
	return &b.fds[fd]
}

// startPollable starts an operation on a pollable descriptor (Accept,
// Recv, Send, or a Read or Write that found a non-blocking descriptor not
// ready): it tries the system call unless others already wait on the fd
// in that direction (they go first) or a Recv is better off waiting
// (fdState.recvWaitFirst).
func (b *readinessBackend) startPollable(c *Completion) {
	st := b.fdRecord(c.fd)
	if st == nil { // a negative fd: the system call reports EBADF
		res, _ := b.attempt(c, nil)
		b.completeAttempt(c, res)
		return
	}
	tryNow := st.waitersFor(c.op).empty() && (c.op != opRecv || !st.recvWaitFirst)
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

// startClose closes fd. Operations still waiting on it become orphans:
// as on io_uring, where they hold their own reference to the file, they
// stay in flight until canceled, and the fd's number, free for reuse now,
// must not wake them. A descriptor the poller has seen is a socket or a
// pipe, which closes without blocking, so the loop closes it inline;
// anything else (a file, whose close may flush) goes to a worker.
func (b *readinessBackend) startClose(c *Completion) {
	st := b.fdRecord(c.fd)
	if st == nil || !st.poll.Registered {
		if st != nil {
			b.orphanWaiters(st)
		}
		b.toWorkers(c)
		return
	}
	b.orphanWaiters(st)
	b.poller.Forget(int(c.fd), &st.poll)
	b.loop.complete(c, -int32(sysClose(int(c.fd))))
}

// orphanWaiters moves st's waiters to the orphans and resets st for the
// next file to get the descriptor's number.
func (b *readinessBackend) orphanWaiters(st *fdState) {
	for _, waiters := range st.waiterLists() {
		for c := waiters.pop(); c != nil; c = waiters.pop() {
			b.fdWaiters--
			c.wait.parked = parkedOrphan
			b.orphans.push(c)
		}
	}
	*st = fdState{}
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
	return op == opSend || op == opConnect || op == opWrite || op == opWritev
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
	if fd >= len(b.fds) {
		return // a stale event for a descriptor the loop never waited on
	}
	st := &b.fds[fd]
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
// bounded by the FIFO's length at entry: attempts never add waiters.
func (b *readinessBackend) runWaiters(waiters *fifo, st *fdState) {
	for limit := waiters.size; limit > 0 && !waiters.empty(); limit-- {
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
		case opConnect:
			return b.attemptConnect(c)
		case opRead, opWrite, opReadv, opWritev:
			// The worker found the descriptor non-blocking and not ready;
			// now that it is, the call cannot block the loop.
			if res := runFileOp(c); res != -int32(syscall.EAGAIN) {
				return res, true
			}
			return 0, false
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
		rest := c.io.buf[c.send.transferred:]
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
		c.send.transferred += n
		if c.send.transferred >= len(c.io.buf) || n == 0 {
			return 0, true
		}
	}
}

// completeAttempt reports a finished attempt to the loop.
func (b *readinessBackend) completeAttempt(c *Completion, res int32) {
	if c.op != opSend {
		b.loop.complete(c, res)
		return
	}
	switch {
	case res < 0:
		b.loop.completeWith(c, c.send.transferred, errnoCode(syscall.Errno(-res)))
	case c.send.transferred < len(c.io.buf):
		b.loop.completeWith(c, c.send.transferred, codeShortWrite)
	default:
		b.loop.completeWith(c, c.send.transferred, codeNone)
	}
}

// forgetNewFD resets the record of a descriptor number the kernel just
// handed out, so that nothing known about an earlier file with the same
// number (poller registration, Recv habits) applies to the new one.
func (b *readinessBackend) forgetNewFD(fd int) {
	if fd >= 0 && fd < len(b.fds) {
		st := &b.fds[fd]
		if st.readers.empty() && st.writers.empty() {
			*st = fdState{}
		}
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
	t := c.cancel.target
	if t.state != stateInFlight || t.loop != l {
		l.completeWith(c, 0, codeNotFound)
		return
	}
	switch t.wait.parked {
	case parkedRead, parkedWrite:
		if !b.fds[t.fd].waitersFor(t.op).remove(t) {
			panic("ioloop: internal error: parked operation not in its fd's FIFO")
		}
		b.fdWaiters--
	case parkedOrphan:
		b.orphans.remove(t)
	case parkedFile:
		if !b.files.cancel(t) {
			l.completeWith(c, 0, errorCode(syscall.EALREADY))
			return
		}
		b.filesInPool--
	default:
		l.completeWith(c, 0, codeNotFound)
		return
	}
	t.wait.parked = parkedNone
	l.completeWith(t, t.progress(), codeCanceled)
	l.completeWith(c, 0, codeNone)
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
	for i := range b.fds {
		st := &b.fds[i]
		for _, waiters := range st.waiterLists() {
			for c := waiters.pop(); c != nil; c = waiters.pop() {
				b.fdWaiters--
				cancel(c)
			}
		}
	}
	for c := b.orphans.pop(); c != nil; c = b.orphans.pop() {
		cancel(c)
	}
	queued := b.files.cancelQueued()
	for c := queued.pop(); c != nil; c = queued.pop() {
		b.filesInPool--
		cancel(c)
	}
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
