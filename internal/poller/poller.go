//go:build linux || darwin || freebsd || netbsd || openbsd

// Package poller is the kernel readiness interface under ioloop's readiness
// backends: epoll on Linux, kqueue on macOS and the BSDs. It knows nothing of
// Completions or operations; the readiness backend
// (backend_readiness.go in package ioloop) turns readiness into completed
// operations, and shares every line of that logic across operating systems.
// Like Go's runtime/netpoll_*.go, the contract is small and implemented once
// per OS:
//
//	epoll_linux.go  epoll + eventfd
//	kqueue.go       kqueue + EVFILT_USER (darwin, freebsd), a pipe (netbsd, openbsd)
//
// type Poller struct{ ... }
//
//	Open(eventsCapacity int) error
//	    Create the kernel object and the wakeup channel. One wait returns
//	    at most eventsCapacity events.
//	Arm(fd int, s *State, read, write bool) syscall.Errno
//	    Make the kernel report, once, that fd became readable (read)
//	    and/or writable (write): one-shot interest (EPOLLONESHOT,
//	    EV_ONESHOT) covering everything still wanted for fd. s is the
//	    per-fd record the poller keeps its bookkeeping in. Arm must always
//	    (re)arm, never skip because s says the interest is already
//	    pending: a descriptor the program closed behind the loop's back,
//	    whose number came back for a new file, leaves s stale. A poller may
//	    apply the change later (kqueue batches it into the next wait); an
//	    error it learns of then is reported as an event saying both
//	    readable and writable, so that the operation's own system call
//	    reports the real error.
//	Forget(fd int, s *State)
//	    The loop is about to close fd: drop any bookkeeping for it.
//	Wait(timeoutNs int64) (n int, err error)
//	    Wait up to timeoutNs (0: do not block, negative: no limit) for
//	    events; EINTR counts as zero events. It consumes wakeups itself.
//	Event(i int) (fd int, readable, writable bool)
//	    The i-th event of the last wait. fd < 0 marks a wakeup, which
//	    needs no handling beyond having ended the wait. Errors and hang-ups
//	    count as readable and writable: the operation's system call
//	    reports them. An event ends all one-shot interest in fd.
//	Wake()
//	    Safe from any goroutine: make a concurrent or the next wait return.
//	Close() error
//	    Release the kernel objects.
package poller

// State is a poller's per-fd bookkeeping, stored in the readiness
// backend's fd table.
type State struct {
	// Registered: the fd is in the kernel's interest set (epoll: ADD was
	// done; it may be stale if the program closed the fd behind the loop's
	// back, which Arm detects and repairs).
	Registered bool
	// ArmedRead, ArmedWrite: one-shot interest was last requested for
	// these directions (bookkeeping only: see Arm on why it may be stale).
	ArmedRead  bool
	ArmedWrite bool
}
