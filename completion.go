package ioloop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Completion is the caller-owned record of one I/O operation: its
// arguments, its callback and context, its result, and the intrusive link
// that lets the loop queue it without allocating.
//
// Allocate Completions yourself (typically as fields of a connection or
// request struct) and hand them to an operation function such as Recv. The
// loop never allocates or frees them. A Completion may be reused for
// another operation once its callback has started, including from inside
// that callback; submitting it while it is still in flight panics.
//
// The zero value is ready to use. A Completion must not be copied while in
// flight (the kernel and the loop refer to it by address).
type Completion struct {
	// Hot fields first: every operation touches these, and keeping them in
	// the first two cache lines measurably speeds up dispatch.

	// next links the Completion into exactly one of the loop's FIFOs
	// (submission overflow or completed) at a time.
	next *Completion
	loop *Loop

	// Callback and its context, type-erased without allocation: ctx holds
	// a *T (an unsafe.Pointer keeps the object alive for the garbage
	// collector like any pointer) and cb holds a func(*T, ...) converted to
	// a named func type whose method restores T (see callback.go).
	ctx unsafe.Pointer
	cb  invoker

	// token is the in-flight table token (io_uring user_data) while the
	// operation is in the kernel.
	token uint64

	// Result, set when the operation completes: a count or file
	// descriptor (the kernel's results are 32-bit) and an error code.
	n       int32
	errCode errorCode

	// Arguments. Only the fields the operation uses are set; buffers and
	// pointers stay referenced here so that the garbage collector keeps
	// everything the kernel may touch alive until the callback runs.
	fd     int32
	state  completionState
	op     opcode
	buf    []byte
	flags  uint32 // open flags, statx flags, fsync flags, shutdown how
	mode   uint32 // open mode, statx mask
	offset int64

	// transferred counts bytes already sent by a Send that the loop is
	// completing in several kernel requests.
	transferred int

	// A Send the kernel cancels after partial progress reports a short,
	// positive count, indistinguishable from an ordinary short send, and
	// the Cancel's own CQE may arrive before or after it. So a Send counts
	// the Cancels in flight aimed at it (cancelsInFlight); a short result
	// that arrives while one is outstanding is parked (sendParked) until a
	// verdict: a Cancel that succeeded (sendCanceled) ends the Send with
	// ErrCanceled, a Cancel that found nothing lets it continue.
	cancelsInFlight uint8
	sendParked      bool
	sendCanceled    bool

	// Cold arguments, used by few operations.
	bufs        [][]byte
	iovecs      []unix.Iovec // kernel-visible iovec array, reused across operations
	path        []byte       // NUL-terminated copy of a path, reused across operations
	statx       *statxBuffer
	target      *Completion // Cancel: the operation to cancel
	event       *Event      // WaitEvent: the Event waited for
	targetToken uint64      // Cancel: the target's token when Cancel was called
	timeoutNs   int64
	timespec    kernelTimespec // io_uring reads the Timeout duration from here
	sockaddr    unix.RawSockaddrAny
	sockaddrLen uint32

	// Readiness backends only (backend_readiness.go): where an in-flight operation
	// waits, its index in the timer heap (for a pending WaitEvent, on every
	// backend: its index in Loop.eventWaiters), and whether a Connect has
	// been issued (then readiness means "look at SO_ERROR", not "try
	// again").
	parked        parking
	connectIssued bool
	timerIndex    int32
}

// parking says where an in-flight operation of a readiness backend waits,
// so that Cancel can find and remove it.
type parking uint8

const (
	parkedNone   parking = iota
	parkedRead           // in its fd's readers FIFO
	parkedWrite          // in its fd's writers FIFO
	parkedTimer          // in the timer heap
	parkedFile           // handed to the file worker pool
	parkedOrphan         // its fd was closed by the loop while it waited
)

type completionState uint8

const (
	// stateIdle: not submitted, or its callback has started.
	stateIdle completionState = iota
	// stateQueued: submitted, waiting in the loop for room in the kernel's
	// submission queue.
	stateQueued
	// stateInFlight: in the kernel (or, on readiness backends, waiting).
	stateInFlight
	// stateCompleted: result known, waiting in the completed FIFO for its
	// callback to run.
	stateCompleted
)

// String names the state in panic messages.
func (s completionState) String() string {
	switch s {
	case stateIdle:
		return "idle"
	case stateQueued:
		return "queued for submission"
	case stateInFlight:
		return "in flight"
	case stateCompleted:
		return "completed, callback pending"
	}
	return "invalid"
}

type opcode uint8

const (
	opNone opcode = iota
	opNop
	opNextTick
	opTimeout
	opAccept
	opConnect
	opRecv
	opSend
	opRead
	opWrite
	opReadv
	opWritev
	opFsync
	opClose
	opOpenAt
	opStatx
	opShutdown
	opCancel
	opWaitEvent
)

var opcodeNames = [...]string{
	opNone: "none", opNop: "Nop", opNextTick: "NextTick", opTimeout: "Timeout",
	opAccept: "Accept", opConnect: "Connect", opRecv: "Recv", opSend: "Send",
	opRead: "Read", opWrite: "Write", opReadv: "Readv", opWritev: "Writev",
	opFsync: "Fsync", opClose: "Close", opOpenAt: "OpenAt", opStatx: "Statx",
	opShutdown: "Shutdown", opCancel: "Cancel", opWaitEvent: "WaitEvent",
}

// String returns the operation's public name.
func (op opcode) String() string {
	if int(op) < len(opcodeNames) {
		return opcodeNames[op]
	}
	return "invalid"
}

// Result returns the result of the Completion's last operation: the count or
// file descriptor and the error its callback received. It is meant for
// tests and diagnostics; callbacks get the same values as arguments.
func (c *Completion) Result() (n int, err error) { return c.count(), c.errCode.err() }

// count returns the n a callback receives. A Send reports its total, which
// may exceed the 32 bits of n (one kernel request moves less than 2 GiB,
// and the loop continues a Send until its buffer is sent).
func (c *Completion) count() int {
	if c.op == opSend {
		return c.transferred
	}
	return int(c.n)
}

// Pending reports whether the Completion is submitted and its callback has
// not started yet. A pending Completion must not be submitted again.
func (c *Completion) Pending() bool { return c.state != stateIdle }

// releaseArguments drops references to user memory once the kernel can no
// longer touch it, so that a finished Completion does not keep buffers
// alive. It touches the cold fields only for the operations that use them.
func (c *Completion) releaseArguments() {
	switch c.op {
	case opRecv, opSend, opRead, opWrite:
		c.buf = nil
	case opReadv, opWritev:
		c.bufs = nil
		clear(c.iovecs)
	case opStatx:
		c.statx = nil
	case opCancel:
		c.target = nil
	case opWaitEvent:
		c.event = nil
	}
}

// progress returns the bytes an operation transferred before it failed or
// was canceled: only Send makes progress across several kernel requests.
func (c *Completion) progress() int {
	if c.op == opSend {
		return c.transferred
	}
	return 0
}

// kernelTimespec is struct __kernel_timespec: 64-bit fields on every
// architecture, unlike unix.Timespec on 32-bit ones.
type kernelTimespec struct {
	sec  int64
	nsec int64
}
