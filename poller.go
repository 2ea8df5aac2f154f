//go:build linux || darwin || freebsd || netbsd || openbsd

package ioloop

// The readiness backends (readiness.go) share every line of logic except
// the kernel's readiness interface, which lives behind a small contract
// implemented once per OS, like Go's runtime/netpoll_*.go:
//
//	poller_epoll_linux.go  epoll + eventfd
//	poller_kqueue.go       kqueue + EVFILT_USER (darwin, freebsd, netbsd, openbsd)
//
// type poller struct{ ... }
//
//	open(eventsCapacity int) error
//	    Create the kernel object and the wakeup channel. One wait returns
//	    at most eventsCapacity events.
//	arm(fd int, s *pollState, read, write bool) syscall.Errno
//	    Make the kernel report, once, that fd became readable (read)
//	    and/or writable (write): one-shot interest (EPOLLONESHOT,
//	    EV_ONESHOT) covering everything still wanted for fd. s is the
//	    per-fd record the poller keeps its bookkeeping in. arm must always
//	    (re)arm, never skip because s says the interest is already
//	    pending: a descriptor the program closed behind the loop's back,
//	    whose number came back for a new file, leaves s stale. A poller may
//	    apply the change later (kqueue batches it into the next wait); an
//	    error it learns of then is reported as an event saying both
//	    readable and writable, so that the operation's own system call
//	    reports the real error.
//	forget(fd int, s *pollState)
//	    The loop is about to close fd: drop any bookkeeping for it.
//	wait(timeoutNs int64) (n int, err error)
//	    Wait up to timeoutNs (0: do not block, negative: no limit) for
//	    events; EINTR counts as zero events. It consumes wakeups itself.
//	event(i int) (fd int, readable, writable bool)
//	    The i-th event of the last wait. fd < 0 marks a wakeup, which
//	    needs no handling beyond having ended the wait. Errors and hang-ups
//	    count as readable and writable: the operation's system call
//	    reports them. An event ends all one-shot interest in fd.
//	wake()
//	    Safe from any goroutine: make a concurrent or the next wait return.
//	close() error
//	    Release the kernel objects.

// pollState is a poller's per-fd bookkeeping, stored in the readiness
// backend's fd table.
type pollState struct {
	// registered: the fd is in the kernel's interest set (epoll: ADD was
	// done; it may be stale if the program closed the fd behind the loop's
	// back, which arm detects and repairs).
	registered bool
	// armedRead, armedWrite: one-shot interest was last requested for
	// these directions (bookkeeping only: see arm on why it may be stale).
	armedRead  bool
	armedWrite bool
}

// The thin per-OS system calls the readiness backend and its file workers
// make (sys_linux.go, sys_bsd.go); each returns a count or 0 and an errno,
// never allocates on Linux, and never raises SIGPIPE:
//
//	sysRecv(fd int, buf []byte) (int, syscall.Errno)
//	sysSend(fd int, buf []byte) (int, syscall.Errno)
//	sysAccept(listenFD int) (int, syscall.Errno)   // non-blocking, close-on-exec
//	sysConnect(fd int, sa *unix.RawSockaddrAny, size uint32) syscall.Errno
//	sysSocketError(fd int) syscall.Errno           // SO_ERROR after a connect
//	sysShutdown(fd, how int) syscall.Errno
//	sysClose(fd int) syscall.Errno
//	sysRead(fd int, buf []byte) (int, syscall.Errno)
//	sysWrite(fd int, buf []byte) (int, syscall.Errno)
//	sysPread(fd int, buf []byte, offset int64) (int, syscall.Errno)
//	sysPwrite(fd int, buf []byte, offset int64) (int, syscall.Errno)
//	sysReadv(fd int, iovecs []unix.Iovec, bufs [][]byte, offset int64) (int, syscall.Errno)   // offset < 0: current position
//	sysWritev(fd int, iovecs []unix.Iovec, bufs [][]byte, offset int64) (int, syscall.Errno)
//	sysFsync(fd int, datasync bool) syscall.Errno  // darwin: F_FULLFSYNC
//	sysOpenat(dirfd int, pathNUL []byte, flags int, mode uint32) (int, syscall.Errno)
//	sysStatx(dirfd int, pathNUL []byte, flags, mask int, stat *statxBuffer) syscall.Errno  // Linux only; ENOSYS elsewhere
