package ioloop

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Backend names the kernel interface a Loop runs on.
type Backend uint8

const (
	// BackendAuto picks the best backend the machine supports.
	BackendAuto Backend = iota
	// BackendIOUring is Linux io_uring (5.11 or newer).
	BackendIOUring
	// BackendEpoll is Linux epoll readiness plus a worker pool for files.
	BackendEpoll
	// BackendKqueue is kqueue readiness plus a worker pool for files
	// (macOS, FreeBSD, NetBSD, OpenBSD).
	BackendKqueue
	// BackendSimulator is the deterministic simulator of package sim. Only
	// that package creates such loops (New refuses it).
	BackendSimulator
	// BackendIOCP is Windows' I/O completion ports (backend_iocp_windows.go).
	BackendIOCP
)

var backendNames = [...]string{
	BackendAuto: "auto", BackendIOUring: "io_uring", BackendEpoll: "epoll", BackendKqueue: "kqueue",
	BackendSimulator: "simulator", BackendIOCP: "iocp",
}

// String returns the backend's name, as `ioloop info` prints it and
// ParseBackend and IOLOOP_BACKEND accept it.
func (b Backend) String() string {
	if int(b) < len(backendNames) {
		return backendNames[b]
	}
	return fmt.Sprintf("Backend(%d)", uint8(b))
}

// Options configures a Loop. The zero value gives sane defaults.
type Options struct {
	// Backend selects the kernel interface. The default, BackendAuto,
	// picks io_uring when it can be set up with every operation the loop
	// needs, and otherwise the platform's readiness backend (epoll on
	// Linux, kqueue on BSD and macOS); FallbackReason says why. With
	// BackendAuto the environment variable IOLOOP_BACKEND (io_uring, epoll,
	// kqueue or auto) overrides the choice, so operators can force one
	// without a code change; an explicit Backend is never overridden.
	Backend Backend

	// FileWorkers bounds the worker pool that runs file operations (Read,
	// Write, Readv, Writev, Fsync, Fdatasync, OpenAt, Statx, Close) on the
	// readiness backends, which cannot make them non-blocking. It is the
	// largest number of such operations that run at once; the rest wait in
	// the pool's queue. Workers start on demand and stop at Close. io_uring
	// ignores it. Default 0 means 64.
	FileWorkers int

	// Entries is the size of the kernel submission queue: how many
	// operations one flush can hand to the kernel. It is rounded up to a
	// power of two; operations beyond it wait in the loop's overflow queue,
	// so it bounds batching, not concurrency. On the readiness backends it
	// is how many readiness events one wait can return. Default 256,
	// maximum 32768.
	Entries uint32

	// FileSubmitBatch is how many file operations (Read, Write, Readv,
	// Writev, Fsync, Fdatasync) callbacks may submit before the loop hands
	// them to the kernel, rather than at the end of the pass. A device
	// starts on a request only once the kernel has it, so early hand-off
	// can keep its queue fuller. How much it buys depends on the device: an
	// earlier run measured random 4 KiB O_DIRECT reads at queue depth 64
	// about 10% faster with 4 than with once per pass, and a later
	// side-by-side run on the same virtual disk did not reproduce it
	// (72.7k and 67.5k IOPS against 71.5k and 68.4k; docs/BENCHMARKS.md).
	// Each hand-off is a system call; other operations (network, timers)
	// gain more from batching and never trigger one. Default 0 means 4;
	// negative means once per pass.
	FileSubmitBatch int

	// CompletionEntries is the size of the kernel completion queue. When
	// more operations complete than fit, the kernel buffers the excess
	// (IORING_FEAT_NODROP) and the loop drains it, so it too bounds only
	// batching. Default 0 means twice Entries; it must be at least Entries.
	CompletionEntries uint32

	// InboxEntries bounds the loop's inbox: how many functions other
	// goroutines may have posted (Post, Message) that the loop has not run
	// yet. Beyond it Post fails with ErrQueueFull. It is rounded up to a
	// power of two; each entry costs 32 bytes. Default 0 means 1024,
	// maximum 1<<20.
	InboxEntries uint32

	// TimerSlack is how much later than its deadline a Timeout may fire
	// when the loop would otherwise wake up just for it: a wait for the
	// earliest timer ends up to TimerSlack after its deadline, and every
	// timer due by then fires in that one pass. Timers never fire early,
	// and when other work wakes the loop, every timer already due fires
	// then. Waking once per timer costs a kernel wait and a context switch
	// each: on the timers workload of docs/BENCHMARKS.md (a million timers
	// over 5 s) io_uring spent 2.4 µs of CPU per timer with 50 µs of
	// slack, 1.4–1.7 with 250 µs and 1.2 with 1 ms, when time.AfterFunc
	// spent 2.1 µs (whose own timers fired about 0.5 ms late at the
	// median). Default 0 means DefaultTimerSlack (1 ms); negative means no
	// slack: wake at each deadline.
	TimerSlack time.Duration

	// LockedThread promises that one OS thread creates the Loop and drives
	// it for its whole life: the creating goroutine has called
	// runtime.LockOSThread and is the only one that ever calls RunFor,
	// Tick, Run, Close or submits operations. On io_uring the ring is then
	// set up with IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN (see
	// docs/ARCHITECTURE.md for what they buy, measured); breaking the
	// promise makes the kernel refuse the other thread's submissions, and
	// the loop panics with a message naming the mistake. On epoll and
	// kqueue the loop then always waits in the kernel rather than parking
	// its goroutine. Group sets it for its loops.
	LockedThread bool
}

// DefaultTimerSlack is used when Options.TimerSlack is 0.
const DefaultTimerSlack = time.Millisecond

// DefaultEntries is the submission queue size used when Options.Entries is 0.
const DefaultEntries = 256

// DefaultFileSubmitBatch is used when Options.FileSubmitBatch is 0.
const DefaultFileSubmitBatch = 4

// DefaultFileWorkers is used when Options.FileWorkers is 0.
const DefaultFileWorkers = 64

// MaxEntries is the largest Options.Entries.
const MaxEntries = 32768

// A Loop is a single-threaded, completion-based I/O event loop.
//
// Operations (Recv, Send, Read, Timeout, …) are submitted with a
// caller-owned Completion and a callback; RunFor, Tick or Run submit them
// to the kernel in batches, reap their results and run the callbacks, one
// at a time, on the goroutine that drives the loop. Callbacks may submit
// more operations, including with their own Completion.
//
// A Loop must be used by one goroutine at a time: submitting operations and
// running the loop are not safe for concurrent use.
type Loop struct {
	backend     backend
	backendKind Backend
	// fallbackReason is why BackendAuto did not get io_uring, or nil.
	fallbackReason error

	// completed holds completions whose result is known, in completion
	// order; draining holds the batch whose callbacks are running.
	completed fifo
	draining  fifo

	// inflight resolves kernel tokens to completions and keeps every
	// completion the kernel may touch reachable for the garbage collector.
	inflight inflightTable

	// pending counts submitted operations whose result is not known yet
	// (queued in the loop or in flight in the kernel).
	pending int

	// fileOpsUnflushed counts file operations submitted by the running
	// batch of callbacks since the last hand-off to the kernel; at
	// fileSubmitBatch (0: never) the loop flushes early.
	fileOpsUnflushed int
	fileSubmitBatch  int

	// running is 1 while RunFor, Tick, Run or Close is on the stack; it is
	// atomic so that two goroutines entering at once are caught.
	running    atomic.Int32
	inCallback bool
	closing    bool
	closed     bool

	// doorbellQueued: a callback queued a MSG_RING doorbell (Message) that
	// must reach the kernel before the running RunFor, Tick or Run returns.
	doorbellQueued bool

	// inbox holds what other goroutines hand the loop (Post, Message,
	// Event.Trigger, Stop); wake ends the loop's blocking wait when they do.
	inbox inbox
	wake  wakeup
	// lastYieldNs is when (nowNs) the loop last yielded to the Go
	// scheduler before a wait in the kernel (yieldBeforeKernelWait).
	lastYieldNs int64
	// schedulerYields counts those yields, for tests.
	schedulerYields uint64
	// timers holds the pending Timeouts (timers.go), unless backendTimers:
	// the backend keeps them itself (the simulator, whose world must know
	// every node's next deadline to move its virtual clock).
	timers        timerHeap
	backendTimers bool
	// timerSlackNs is Options.TimerSlack resolved.
	timerSlackNs int64

	// chain collects the operations of an open chain (chain.go);
	// parkedCallbacks counts completed chain operations whose callbacks
	// wait for their partner's verdict.
	chain           chainBuilder
	parkedCallbacks int

	// eventWaiters are the pending WaitEvents; each records its index here
	// in Completion.timerIndex, so that removing one is O(1).
	eventWaiters []*Completion

	// calling is the Completion whose callback runs or ran last, so that
	// exit can free its token if the callback panicked (keepToken).
	calling *Completion

	// opCounts counts submissions and callbacks by operation (Stats).
	opCounts [NumOps]OpCounts

	// fixed holds the registered files and buffers, and which of the
	// opt-in operations the backend runs natively (ops_fixed.go).
	fixed fixedResources
	// pools are the loop's buffer pools (pool.go), closed by Close.
	pools []*BufferPool
	// shots is the free list of the Completions that carry multishot
	// results (ops_pooled.go).
	shots fifo
}

// New creates a Loop on the backend Options.Backend selects (see Options).
// It fails with a *SetupError saying why when the kernel interface cannot
// be set up.
func New(opts Options) (*Loop, error) {
	if opts.Entries > MaxEntries {
		return nil, &SetupError{Backend: opts.Backend, Err: syscall.EINVAL,
			Reason: "Options.Entries exceeds the limit of 32768"}
	}
	if opts.FileWorkers < 0 {
		return nil, &SetupError{Backend: opts.Backend, Err: syscall.EINVAL,
			Reason: "Options.FileWorkers is negative"}
	}
	if opts.InboxEntries > MaxInboxEntries {
		return nil, &SetupError{Backend: opts.Backend, Err: syscall.EINVAL,
			Reason: "Options.InboxEntries exceeds the limit of 1048576"}
	}
	l := newLoop(opts)
	switch {
	case l.fileSubmitBatch == 0:
		l.fileSubmitBatch = DefaultFileSubmitBatch
	case l.fileSubmitBatch < 0:
		l.fileSubmitBatch = 0
	}
	if err := l.selectBackend(opts); err != nil {
		return nil, err
	}
	return l, nil
}

// newLoop builds the backend-independent part of a Loop.
func newLoop(opts Options) *Loop {
	l := &Loop{fileSubmitBatch: opts.FileSubmitBatch, timerSlackNs: int64(opts.TimerSlack)}
	switch {
	case opts.TimerSlack == 0:
		l.timerSlackNs = int64(DefaultTimerSlack)
	case opts.TimerSlack < 0:
		l.timerSlackNs = 0
	}
	l.inflight.init(64)
	entries := opts.InboxEntries
	if entries == 0 {
		entries = DefaultInboxEntries
	}
	l.inbox.init(entries)
	l.wake.parked = make(chan struct{}, 1)
	return l
}

// Backend returns the kernel interface the Loop runs on.
func (l *Loop) Backend() Backend { return l.backendKind }

// FallbackReason returns why BackendAuto did not select io_uring (a
// *SetupError naming the cause, such as a seccomp profile or
// kernel.io_uring_disabled), or nil when it did, or when the backend was
// chosen explicitly. Programs can log it; `ioloop info` prints it.
func (l *Loop) FallbackReason() error { return l.fallbackReason }

// Pending returns the number of submitted operations whose callbacks have
// not run yet.
func (l *Loop) Pending() int {
	return l.pending + l.completed.size + l.draining.size + l.parkedCallbacks
}

// nowNs reads the monotonic clock relative to the loop's creation: the
// world's virtual clock on the simulator.
func (l *Loop) nowNs() int64 { return l.backend.nowNs() }

// Now returns the loop's notion of the current time: the wall clock on the
// kernel backends, and the simulated world's virtual clock (starting at
// 2000-01-01 00:00:00 UTC) on the simulator. Programs that want to run
// under simulation read time through Now instead of time.Now.
func (l *Loop) Now() time.Time { return l.backend.now() }

// RunFor runs the loop for d: it submits queued operations, waits for
// completions (in the kernel, with a timeout, never while callbacks are
// ready to run), runs callbacks, and repeats until d has passed. Work
// submitted by the last callbacks is flushed to the kernel before it
// returns. The returned error reports a failure of the kernel interface
// itself; results of operations go to their callbacks. A negative d does
// one non-blocking pass; a d whose deadline would overflow (such as
// math.MaxInt64) runs until Stop, or on the simulator until nothing is left
// to happen (see docs/SIMULATION.md).
func (l *Loop) RunFor(d time.Duration) error {
	l.enter("RunFor")
	defer l.exit()
	// Saturated, a huge d runs until Stop; a negative one is 0: one pass.
	deadlineNs := addSaturatingNs(l.nowNs(), max(int64(d), 0))
	for {
		l.runInbox()
		l.runCompleted()
		remainingNs := deadlineNs - l.nowNs()
		timeoutNs := remainingNs
		if remainingNs <= 0 || !l.completed.empty() {
			timeoutNs = 0
		}
		if err := l.poll(timeoutNs); err == errSimRunOver {
			return nil
		} else if err != nil {
			return err
		}
		if remainingNs <= 0 || l.takeStop() {
			return nil
		}
	}
}

// Tick does one non-blocking pass: it submits queued operations, reaps
// whatever has completed, and runs the callbacks that are ready.
// Operations submitted by those callbacks go to the kernel on the next pass.
func (l *Loop) Tick() error {
	l.enter("Tick")
	defer l.exit()
	if err := l.poll(0); err != nil {
		return err
	}
	l.runInbox()
	l.runCompleted()
	return nil
}

// Run runs the loop until no operation is pending: every submitted
// operation has completed and its callback has run, and the inbox is empty
// (a pending WaitEvent keeps Run waiting; a function that might be posted
// later does not). Stop ends it early.
//
// Run cannot know about work that other goroutines still hold: a goroutine
// that will Post its result later does not keep Run alive, and if Run
// returns first, a deferred Close runs the late Post's function on a
// closing loop (or the Post fails with ErrClosed). To keep Run running
// until such work is back, hold a WaitEvent pending on an Event that the
// goroutine Triggers after its Post (a pending WaitEvent is pending work,
// like a libuv handle that is referenced), or drive the loop with RunFor
// and a condition of your own.
func (l *Loop) Run() error {
	l.enter("Run")
	defer l.exit()
	for {
		l.runInbox()
		l.runCompleted()
		if l.pending == 0 && l.completed.empty() && !l.inbox.hasWork() {
			return nil
		}
		if l.takeStop() {
			return nil
		}
		timeoutNs := int64(-1)
		if !l.completed.empty() {
			timeoutNs = 0
		}
		if err := l.poll(timeoutNs); err != nil {
			return err
		}
	}
}

// poll is one backend poll whose wait the earliest timer bounds (the one
// deadline the kernel sees), followed by firing every timer that is due.
func (l *Loop) poll(timeoutNs int64) error {
	if timeoutNs != 0 && l.timers.len() > 0 {
		timeoutNs = l.boundByTimers(timeoutNs)
	}
	err := l.backend.poll(timeoutNs)
	if l.timers.len() > 0 {
		l.fireTimers()
	}
	return err
}

// maxCloseRounds bounds how often Close runs callbacks after everything in
// flight has finished. Each round can only contain operations submitted by
// the previous round's callbacks, which complete at once with ErrClosed, so
// only a callback that resubmits unconditionally reaches the bound.
const maxCloseRounds = 1 << 16

// Close cancels every pending operation, waits until the kernel has
// finished with all of them, runs every outstanding callback (canceled
// operations receive ErrCanceled, unless they completed first), and then
// releases the kernel resources. Operations submitted by callbacks during
// Close complete with ErrClosed. Operations the kernel cannot interrupt
// (a read already running against a disk) are waited for.
//
// From the moment Close begins, Post and Message to the loop return
// ErrClosed and Trigger and Stop do nothing. Triggers made before then
// still complete a pending WaitEvent with their count; the WaitEvents left
// get ErrCanceled; then the functions posted before then run.
//
// Close must not be called from a callback. Closing a closed Loop returns
// ErrClosed; any other use of a closed Loop panics.
func (l *Loop) Close() error {
	if l.closed {
		return ErrClosed
	}
	l.enter("Close")
	defer l.exit()
	l.closing = true
	l.inbox.closeGate()
	l.inbox.stopRequests.Store(0) // a Stop racing with Close must not keep its passes from blocking
	l.deliverTriggered()
	l.cancelEventWaits()
	l.cancelTimers()
	l.runPosted()
	l.cancelPoolWaiters()
	l.backend.cancelAll()
	for l.pending > 0 {
		if err := l.backend.poll(-1); err != nil {
			return err
		}
		l.runCompleted()
	}
	for round := 0; !l.completed.empty(); round++ {
		if round == maxCloseRounds {
			panic("ioloop: Close: callbacks keep submitting operations after receiving ErrClosed")
		}
		l.runCompleted()
	}
	l.closed = true
	l.closePools()
	return l.backend.close()
}

func (l *Loop) enter(method string) {
	if l.closed {
		panic("ioloop: " + method + " called on a closed Loop")
	}
	if !l.running.CompareAndSwap(0, 1) {
		l.enteredWhileRunning(method)
	}
	if l.chain.open {
		l.running.Store(0)
		panic("ioloop: " + method + " with a chain open; call EndChain after the chain's last operation")
	}
}

// enteredWhileRunning panics for a RunFor, Tick, Run or Close that found
// the loop running. Two mistakes look alike here: driving the loop from
// inside one of its callbacks, and driving it from a second goroutine
// (while the first may itself be inside a callback, so inCallback cannot
// tell them apart). Go has no goroutine identity, so this slow path asks
// the caller's own stack: the loop's callback runners are on it only in
// the first case.
//
//go:noinline
func (l *Loop) enteredWhileRunning(method string) {
	if l.inCallback && callerIsInsideCallback() {
		panic("ioloop: " + method + " called from inside a callback; callbacks must return to the loop instead of driving it")
	}
	panic("ioloop: " + method + " called while the Loop is already running on another goroutine; a Loop must be driven by one goroutine at a time")
}

// callbackRunners are the functions that run callbacks and posted
// functions; a goroutine whose stack holds one of them is inside a
// callback.
var callbackRunners = [...]string{
	"github.com/ioloop/ioloop.(*Loop).runCompleted",
	"github.com/ioloop/ioloop.(*Loop).runPosted",
}

// callerIsInsideCallback reports whether the calling goroutine is running
// a callback or posted function of some Loop.
func callerIsInsideCallback() bool {
	var pcs [128]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs[:])])
	for {
		frame, more := frames.Next()
		for _, runner := range callbackRunners {
			if frame.Function == runner {
				return true
			}
		}
		if !more {
			return false
		}
	}
}

// exit restores the loop after RunFor, Tick, Run or Close, also when a
// callback panicked: the callbacks that had not run yet go back to the
// front of the completed FIFO, so none is lost if the program recovers.
func (l *Loop) exit() {
	if c := l.calling; l.inCallback && c != nil && c.token != 0 && c.state == stateIdle && c.loop == l {
		l.retireToken(c) // its callback panicked before runCompleted could (see keepToken)
	}
	l.inCallback = false
	l.completed.prependAll(&l.draining)
	if l.doorbellQueued {
		l.doorbellQueued = false
		if !l.closed {
			l.backend.flush()
		}
	}
	l.running.Store(0)
}

// runCompleted runs the callbacks of the operations that have completed so
// far. Completions added by those callbacks wait for the next pass, so a
// callback that resubmits itself cannot starve the kernel.
func (l *Loop) runCompleted() {
	if l.completed.empty() {
		return
	}
	l.draining = l.completed.takeAll()
	l.inCallback = true
	l.fileOpsUnflushed = 0
	for c := l.draining.pop(); c != nil; c = l.draining.pop() {
		if c.link != 0 && !l.releaseLinked(c) {
			continue // parked: its partner's release runs it
		}
		l.opCounts[c.op&(NumOps-1)].Completed++
		// ctx and cb stay set (they are replaced by the next submission):
		// clearing them costs more than the references they keep.
		ctx, cb, n, err := c.ctx, c.cb, c.count(), c.errCode.err()
		c.releaseArguments()
		c.state = stateIdle
		l.calling = c
		cb.invoke(ctx, c, n, err)
		if c.token != 0 && c.state == stateIdle {
			l.retireToken(c) // not submitted again: see keepToken
		}
		if l.chain.open {
			first := l.chain.first
			l.chain = chainBuilder{}
			l.dropChain(first)
			panic("ioloop: a callback returned with a chain open; call EndChain after the chain's last operation")
		}
		if l.fileSubmitBatch != 0 && l.fileOpsUnflushed >= l.fileSubmitBatch {
			l.fileOpsUnflushed = 0
			l.backend.flush()
		}
	}
	l.inCallback = false
}

// prepare validates a submission before any field of c changes: a
// Completion still in flight belongs to the kernel and must not be touched.
// It is small enough to inline (the caller then sets c.op: one assignment
// more here would exceed the inlining budget); the messages live in
// misuse. A closed loop
// is caught later, where submissions to a closing loop already branch off
// (completeWithoutBackend, submitUnless), which keeps prepare within the
// inlining budget.
func (l *Loop) prepare(c *Completion, op opcode, callbackIsNil bool) {
	if c == nil || callbackIsNil || c.state != stateIdle || l == nil {
		l.misuse(c, op, callbackIsNil)
	}
}

// misuse panics with a message that names the programming error.
//
//go:noinline
func (l *Loop) misuse(c *Completion, op opcode, callbackIsNil bool) {
	switch {
	case l == nil:
		panic("ioloop: " + op.String() + " with a nil *Loop")
	case c == nil:
		panic("ioloop: " + op.String() + " with a nil *Completion")
	case callbackIsNil:
		panic("ioloop: " + op.String() + " with a nil callback")
	case c.state != stateIdle:
		panic(fmt.Sprintf("ioloop: %s: the Completion is still %s (by %s); wait for its callback before reusing it",
			op, c.state, c.op))
	case l.closed:
		panic("ioloop: " + op.String() + " submitted to a closed Loop")
	}
}

// submit hands a prepared Completion to the backend, or completes it at
// once when no kernel work is needed.
func (l *Loop) submit(c *Completion, ctx unsafe.Pointer, cb invoker) {
	l.opCounts[c.op&(NumOps-1)].Submitted++
	if c.token != 0 {
		if c.loop == l {
			c.token = l.inflight.renew(c, c.token) // keepToken's common case
		} else {
			l.keepToken(c)
		}
	}
	c.ctx, c.cb = ctx, cb
	c.loop = l
	if l.chain.open && !l.closing {
		l.addToChain(c, codeNone)
		return
	}
	if (l.closing || runByLoop[c.op]) && l.completeWithoutBackend(c) {
		return
	}
	c.state = stateQueued
	l.pending++
	l.backend.submit(c)
}

// submitUnless submits c, or, when validating its arguments gave errno
// (an argument the kernel would reject), completes it with that error
// without asking the kernel, so that it still gets exactly one callback.
func (l *Loop) submitUnless(errno syscall.Errno, c *Completion, ctx unsafe.Pointer, cb invoker) {
	l.submitUnlessCode(errorCode(errno), c, ctx, cb)
}

// submitUnlessCode is submitUnless for a rejection that is an ioloop
// sentinel (codeNotRegistered) as well as an errno.
func (l *Loop) submitUnlessCode(code errorCode, c *Completion, ctx unsafe.Pointer, cb invoker) {
	if code == codeNone {
		l.submit(c, ctx, cb)
		return
	}
	if l.closed {
		l.misuse(c, c.op, false)
	}
	l.opCounts[c.op&(NumOps-1)].Submitted++
	if c.token != 0 {
		l.keepToken(c)
	}
	c.ctx, c.cb = ctx, cb
	c.loop = l
	if l.chain.open && !l.closing {
		l.addToChain(c, code)
		return
	}
	l.record(c, 0, code)
}
