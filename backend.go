package ioloop

import (
	"net/netip"
	"time"
)

// This file is the whole contract between the portable loop and a backend,
// in both directions:
//
//   - backend is what a backend implements; the portable loop calls
//     backends only through it (Loop.backend).
//   - The Loop methods listed below are all a backend may call on its loop,
//     each with its precondition. A backend reads the arguments of the
//     Completions it is handed (Completion.op, fd, io, path, …) and writes
//     the fields its own machinery owns (token, through issueToken; the
//     readiness wait; the Send progress), and nothing else of the Loop.
//
// The backends, each a file family:
//
//	backend_uring_*      io_uring (Linux): SQEs and CQEs; the kernel does the I/O
//	backend_readiness_*  epoll (Linux) and kqueue (macOS, BSDs): readiness, then the
//	                     system call in userland; file operations on a worker pool;
//	                     the kernel interface itself is internal/poller
//	backend_sim*         the deterministic simulator (internal/simcore)
//	backend_select*      which backend a Loop gets (BackendAuto, IOLOOP_BACKEND)
//
// Who owns what. The loop owns everything that is the same on every
// backend: validating submissions, the Completion state machine, the
// conventions of results (results.go: io.EOF, ErrCanceled, a Send continued
// until its buffer is sent, fd -1 on failure), the completed FIFO,
// callbacks, the inbox, and Close. A backend owns the path of an operation
// from submission to its raw result.
//
// The life of an operation, as a backend sees it:
//
//  1. submit(c): c is in stateQueued and counted in pending. The backend
//     moves it to stateInFlight once it has started (io_uring: its SQE is
//     written; readiness and simulator: at once) and gives it a token with
//     issueToken when the kernel must be able to name it.
//  2. Later, in poll (or flush), the backend learns the outcome and reports
//     it exactly once, with complete (a raw result) or completeWith (a
//     result it has interpreted itself). From then on c is the loop's.
//  3. Cancel: a Cancel the loop cannot answer itself (its target is in the
//     backend) is submitted like any operation, with Completion.cancel set;
//     the backend answers it and, if it removed the target, completes the
//     target with codeCanceled.
//  4. cancelAll, at Close: the backend completes everything it holds, with
//     codeCanceled where it can, and lets the rest finish; Close polls
//     until pending is zero, then calls close.
//
// Timeouts are the loop's (timers.go): a backend never sees one, and the
// earliest deadline arrives as poll's timeoutNs. The exception is the
// simulator, which sets Loop.backendTimers and keeps Timeouts as events of
// its world, because one goroutine drives every node's loop and the world
// must know each node's next deadline to move the virtual clock.
//
// Hot-path exception: none. Loop.submit calls backend.submit through the
// interface on every backend. The io_uring backend used to be called
// through a concrete-typed field to spare the indirect call; side by side
// the difference was within the noise of `ioloop bench nop -batch 128`
// (docs/ARCHITECTURE.md, "The backend contract"), so the shortcut and the
// stubs it required on other systems were removed.
type backend interface {
	// submit takes c, in stateQueued, counted in pending.
	submit(c *Completion)
	// resubmit continues an in-flight operation that made partial progress
	// (a short Send); c keeps its token.
	resubmit(c *Completion)
	// unqueue takes c back if it has not reached the kernel yet, and then
	// reports true; the loop completes it with ErrCanceled.
	unqueue(c *Completion) bool
	// flush hands queued submissions to the kernel now, without waiting
	// or reaping; errors surface at the next poll.
	flush()
	// poll pushes queued submissions to the kernel and waits up to
	// timeoutNs (0: not at all, negative: without limit) for at least one
	// completion, reporting every result it learns through complete or
	// completeWith. It never runs callbacks, and it does not wait when
	// Loop.callbacksReady says callbacks are ready to run.
	poll(timeoutNs int64) error
	// cancelAll starts canceling everything submitted (Close).
	cancelAll()
	// close releases the kernel resources; nothing may be in flight.
	close() error

	// nowNs is the loop's monotonic clock, in nanoseconds since the loop
	// was created; now is the wall clock Loop.Now reports. The simulator
	// serves both from its virtual clock.
	nowNs() int64
	now() time.Time

	// The socket helpers behind Loop.ListenTCP, TCPSocket, LocalAddr and
	// RemoteAddr: the kernel's on the kernel backends, the simulated
	// network's on the simulator.
	listenTCP(addr netip.AddrPort, opts ListenOptions) (fd int, bound netip.AddrPort, err error)
	tcpSocket(addr netip.AddrPort) (fd int, err error)
	// listenUDP and udpSocket are behind Loop.ListenUDP and UDPSocket
	// (net_udp.go): a bound and an unbound datagram socket.
	listenUDP(addr netip.AddrPort, opts UDPOptions) (fd int, bound netip.AddrPort, err error)
	udpSocket(addr netip.AddrPort) (fd int, err error)
	localAddr(fd int) (netip.AddrPort, error)
	remoteAddr(fd int) (netip.AddrPort, error)

	// canRingDoorbell reports whether this backend can wake the loop to
	// by a doorbell in its own next submission (Message); ringDoorbell
	// queues one and reports whether it could. Only io_uring loops ring
	// io_uring loops (IORING_OP_MSG_RING); elsewhere Message wakes the
	// target as Post does.
	canRingDoorbell(to *Loop) bool
	ringDoorbell(to *Loop) bool

	// Chains (chain.go). submitChain takes a whole chain, linked through rare.chainNext, every
	// operation in stateQueued and counted in pending, and reports whether
	// it did; a backend without native chains (embedding emulatedChains)
	// returns false, and the loop runs the chain itself, handing the
	// backend one operation at a time with submit. io_uring runs its
	// chains in the kernel (IOSQE_IO_LINK, IORING_OP_LINK_TIMEOUT), except
	// one with an operation that runs on its workers.
	submitChain(first *Completion, length int) bool
	// abandon cancels c, which the backend holds, on the loop's own behalf
	// (an emulated LinkTimeout expired, or its operation finished first):
	// it returns codeNone after completing c with codeCanceled, or
	// EALREADY (c is running and completes on its own), or codeNotFound;
	// io_uring may instead return codeNone with the cancellation under
	// way, c completing through the ring. Asked only for chains the loop
	// runs.
	abandon(c *Completion) errorCode
}

// The Loop methods a backend may call, and when. All of them run on the
// loop's goroutine unless they say otherwise. The result vocabulary
// (complete, completeFast, completeWith) is documented in results.go.
//
//	issueToken(c) uint64
//	    c is being handed to the kernel and has no token: register it in the
//	    in-flight table (which keeps it reachable for the garbage collector)
//	    and return the token the kernel will hand back. Precondition:
//	    c.token == 0.
//	lookupToken(token) *Completion
//	    The Completion a kernel token names, or nil for an internal or stale
//	    token.
//	forEachInFlight(fn)
//	    Calls fn with the token of every Completion the kernel holds
//	    (io_uring's cancelAll asks the kernel to cancel each).
//	retireToken(c)
//	    After completeFast accepted c: free its token (complete and
//	    completeWith do it themselves). Or leave it: runCompleted frees
//	    it after the callback, unless the callback submitted c again, which
//	    renews it in place (keepToken): cheaper than a free and an issue.
//	complete(c, res), completeFast(c, res), completeWith(c, n, code)
//	    Report c's outcome, once. Precondition: c is in flight or queued in
//	    this backend, and counted in pending.
//	callbacksReady() bool
//	    Completed operations wait for their callbacks: poll must not block.
//	isClosing() bool
//	    Close has begun: nothing new may be parked for later.
//	announceSleep(how, otherWork) bool, awake()
//	    The wakeup handshake (wakeup.go) around a blocking wait. Call
//	    announceSleep last before blocking and block only if it returns true;
//	    call awake once the wait is over.
//	setKernelWake(fn), wakeLoop(), parkedWakeups()
//	    Setup: how other goroutines end a wait in the kernel. wakeLoop is the
//	    producer side of the handshake, safe from any goroutine (the file
//	    workers call it). parkedWakeups is where a loop parked in the Go
//	    scheduler (loopParked) is woken.
//	wakeInKernel()
//	    From any goroutine: wake the loop's wait in the kernel unless it
//	    has closed (a doorbell that failed to ring).
//	inboxHasWork() bool, inboxHasDeliveries() bool
//	    The inbox holds posted functions, triggered Events or (hasWork only)
//	    a Stop request: the loop has work that no backend knows about.
//	runNested(who)
//	    Simulator only: run this loop's ready callbacks while another
//	    loop's RunFor drives the world (one goroutine serves every node).

// issueToken registers c as in the kernel's hands and returns its token.
func (l *Loop) issueToken(c *Completion) uint64 {
	if c.token != 0 {
		panic("ioloop: internal error: issuing a token to a Completion that has one")
	}
	c.token = l.inflight.add(c)
	return c.token
}

// lookupToken returns the Completion a kernel token names, or nil.
func (l *Loop) lookupToken(token uint64) *Completion { return l.inflight.lookup(token) }

// forEachInFlight calls fn with the token of every Completion in flight.
func (l *Loop) forEachInFlight(fn func(token uint64)) {
	l.inflight.forEach(func(token uint64, c *Completion) {
		if c.state == stateInFlight { // not a completed one whose token waits for its callback (keepToken)
			fn(token)
		}
	})
}

// keepToken handles a submission of c that still holds the token of its
// previous operation, which completeFast left to runCompleted: the same
// loop renews it in place (Loop.submit does that inline: a callback
// resubmitting its own Completion is the hot path); another loop (the
// simulator runs every node's loop on one goroutine) frees it in the old
// loop's table.
//
//go:noinline
func (l *Loop) keepToken(c *Completion) {
	if c.loop == l {
		c.token = l.inflight.renew(c, c.token)
		return
	}
	c.loop.inflight.remove(c.token)
	c.token = 0
}

// retireToken frees the token of a Completion that completeFast accepted.
// The io_uring reap leaves it to runCompleted instead (see keepToken).
func (l *Loop) retireToken(c *Completion) {
	l.inflight.remove(c.token)
	c.token = 0
}

// callbacksReady reports whether completed operations wait for their
// callbacks, so that the backend must not block.
func (l *Loop) callbacksReady() bool { return !l.completed.empty() }

// isClosing reports whether Close has begun.
func (l *Loop) isClosing() bool { return l.closing }

// setKernelWake installs how other goroutines end the loop's wait in the
// kernel (an eventfd write, EVFILT_USER, …). Setup only.
func (l *Loop) setKernelWake(fn func()) { l.wake.kernel = fn }

// wakeLoop ends the loop's announced sleep, if any. Safe from any
// goroutine.
func (l *Loop) wakeLoop() { l.wake.wake() }

// parkedWakeups is where a loop that announced loopParked is woken.
func (l *Loop) parkedWakeups() <-chan struct{} { return l.wake.parked }

// wakeInKernel wakes the loop's wait in the kernel unless it has closed.
// Safe from any goroutine.
func (l *Loop) wakeInKernel() {
	if l.inbox.enter() {
		l.wake.kernel()
		l.inbox.leave()
	}
}

// inboxHasWork reports whether other goroutines handed the loop work,
// including a Stop request.
func (l *Loop) inboxHasWork() bool { return l.inbox.hasWork() }

// inboxHasDeliveries reports whether posted functions or triggered Events
// wait to be run.
func (l *Loop) inboxHasDeliveries() bool { return l.inbox.hasDeliveries() }

// runNested runs the loop's ready work (posted functions, callbacks, and
// what they submit) while another loop drives the simulated world.
func (l *Loop) runNested(who string) {
	l.enter(who)
	defer l.exit()
	l.backend.flush()
	l.runInbox()
	l.runCompleted()
	l.backend.flush()
}

// kernelClock is the clock of the kernel backends: the monotonic clock
// since the loop was created, and the wall clock.
type kernelClock struct{ epoch time.Time }

func newKernelClock() kernelClock { return kernelClock{epoch: time.Now()} }

func (k *kernelClock) nowNs() int64   { return int64(time.Since(k.epoch)) }
func (k *kernelClock) now() time.Time { return time.Now() }

// kernelSockets serves the Loop socket helpers from the kernel, through the
// package functions of the same names.
type kernelSockets struct{}

func (kernelSockets) listenTCP(addr netip.AddrPort, opts ListenOptions) (int, netip.AddrPort, error) {
	return ListenTCP(addr, opts)
}
func (kernelSockets) tcpSocket(addr netip.AddrPort) (int, error) { return TCPSocket(addr) }
func (kernelSockets) listenUDP(addr netip.AddrPort, opts UDPOptions) (int, netip.AddrPort, error) {
	return ListenUDP(addr, opts)
}
func (kernelSockets) udpSocket(addr netip.AddrPort) (int, error) { return UDPSocket(addr) }
func (kernelSockets) localAddr(fd int) (netip.AddrPort, error)   { return LocalAddr(fd) }
func (kernelSockets) remoteAddr(fd int) (netip.AddrPort, error)  { return RemoteAddr(fd) }

// noDoorbells is the doorbell side of backends that cannot ring another
// loop: Message wakes its target as Post does.
type noDoorbells struct{}

func (noDoorbells) canRingDoorbell(*Loop) bool { return false }
func (noDoorbells) ringDoorbell(*Loop) bool    { return false }

// emulatedChains is embedded by the backends whose chains the loop runs
// (chain.go): the readiness backends and the simulator.
type emulatedChains struct{}

func (emulatedChains) submitChain(*Completion, int) bool { return false }
