package ioloop

import (
	"unsafe"
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
	// everything the kernel may touch alive until the callback runs
	// (releaseArguments drops them then). Each group below belongs to the
	// operations its type names; fd, flags and mode are shared.
	fd    int32
	state completionState
	op    opcode
	link  linkFlags // its place in a chain (chain.go); 0 outside one
	flags uint32    // OpenAt, Statx, Renameat, Unlinkat, Linkat, SyncFileRange flags; Fsync flags; Write(v)'s Durability; Shutdown how; Fadvise advice
	// index is a pending Timeout's or LinkTimeout's place in the timer
	// heap, or a pending WaitEvent's in Loop.eventWaiters, so that
	// removing one needs no search.
	index int32

	// io is the data operations' buffer and offset. Its offset word is
	// also the one 64-bit argument of the operations that have no offset
	// (see the accessors below): a Send's progress, a Timeout's or
	// LinkTimeout's duration, a Cancel's target token. One word serving
	// four groups is what keeps a Completion at two cache lines.
	io ioArgs
	// peer is the other object an operation names: a Cancel's or
	// LinkTimeout's target (*Completion), a WaitEvent's *Event. An
	// unsafe.Pointer keeps it reachable for the garbage collector like a
	// typed pointer; cancelTarget and waitedEvent restore the type, which
	// the opcode determines.
	peer unsafe.Pointer

	// rare holds the large arguments few operations use (iovecs, paths,
	// a Statx buffer, a sockaddr, a mode), attached on a Completion's
	// first such operation and reused by every later one: no allocation
	// per operation in steady state, and less memory for every Completion
	// that never needs them (a timer, a Recv).
	rare *rareArgs

	// wait is where an in-flight operation waits on the readiness
	// backends; send is a Send's cancellation bookkeeping.
	wait readinessWait
	send sendState
}

// The operations that keep their 64-bit argument in io.offset.

// sent is how many bytes a Send has sent so far.
func (c *Completion) sent() int { return int(c.io.offset) }

// setSent records a Send's progress.
func (c *Completion) setSent(n int) { c.io.offset = int64(n) }

// durationNs is a Timeout's or LinkTimeout's duration.
func (c *Completion) durationNs() int64 { return c.io.offset }

// setDurationNs sets a Timeout's or LinkTimeout's duration.
func (c *Completion) setDurationNs(ns int64) { c.io.offset = ns }

// targetToken is a Cancel's target's token when the Cancel was submitted.
func (c *Completion) targetToken() uint64 { return uint64(c.io.offset) }

// setTargetToken records a Cancel's target's token.
func (c *Completion) setTargetToken(token uint64) { c.io.offset = int64(token) }

// cancelTarget is a Cancel's or LinkTimeout's target.
func (c *Completion) cancelTarget() *Completion { return (*Completion)(c.peer) }

// waitedEvent is a WaitEvent's Event.
func (c *Completion) waitedEvent() *Event { return (*Event)(c.peer) }

// ioArgs are the arguments of the data operations (Readv and Writev keep
// their buffers in rareArgs).
type ioArgs struct {
	buf    []byte // Recv, Send, Read, Write
	offset int64  // Read, Write, Readv, Writev, Fallocate, Fadvise, SyncFileRange; -1: the current position. Shared: see sent, durationNs, targetToken
}

// rareArgs are the large arguments of few operations. The kernel reads the
// iovec array, the path and the sockaddr from here and writes the Statx
// buffer's address it is given, so this storage stays attached (and
// reachable) for as long as its Completion.
type rareArgs struct {
	bufs        [][]byte   // Readv, Writev
	iovecs      []sysIovec // Readv, Writev: the kernel-visible array, reused
	pathNUL     []byte     // OpenAt, Statx, Renameat, Unlinkat, Mkdirat, Linkat: NUL-terminated copy of the (old) path, reused; Symlinkat: the target
	path2NUL    []byte     // Renameat, Linkat: the new path; Symlinkat: the link's path
	dirFD2      int32      // Renameat, Linkat, Symlinkat: the new path's directory
	mode        uint32     // OpenAt and Mkdirat mode, Statx mask, Fallocate mode
	lengthBytes int64      // Fallocate, Ftruncate, Fadvise, SyncFileRange: the length
	// chainNext is the next operation of the chain this one belongs to
	// (chain.go); chainLength, on a chain's first operation, counts its
	// operations.
	chainNext   *Completion
	chainLength int32
	// timeout is a LinkTimeout's duration as io_uring reads it (at
	// submission).
	timeout     sysTimespec
	statx       *statxBuffer      // Statx
	sockaddr    sysRawSockaddrAny // Connect, ConnectUnix; SendTo, SendMsg: the destination; RecvFrom, RecvMsg: the sender, as the kernel writes it
	sockaddrLen uint32
	// msg is the msghdr of SendTo, RecvFrom, SendMsg and RecvMsg
	// (ops_udp.go), pointing into iovecs, sockaddr and oob. io_uring reads
	// it at submission and, for a receive, writes msg_namelen,
	// msg_controllen and msg_flags back at completion, which is why it
	// lives here, referenced until the callback, and why the callback
	// reads the sender, the control length and the flags from here.
	msg sysMsghdr
	oob []byte // SendMsg, RecvMsg: the control (ancillary) data buffer
}

// attachRare returns the Completion's rare-argument storage, attaching it
// on first use.
func (c *Completion) attachRare() *rareArgs {
	if c.rare == nil {
		c.rare = new(rareArgs)
	}
	return c.rare
}

// sendState is the bookkeeping of a Send (or SendZC) that the loop completes in
// several kernel requests (a Send reports success only once its whole
// buffer is sent); its progress is io.offset (sent).
//
// A Send the kernel cancels after partial progress reports a short,
// positive count, indistinguishable from an ordinary short send, and the
// Cancel's own CQE may arrive before or after it. So a Send counts the
// Cancels in flight aimed at it (cancelsInFlight); a short result that
// arrives while one is outstanding is parked (parked) until a verdict: a
// Cancel that succeeded (canceled) ends the Send with ErrCanceled, a Cancel
// that found nothing lets it continue.
type sendState struct {
	cancelsInFlight uint8
	parked          bool
	canceled        bool
	// notifPending: a SendZC's request CQE arrived with IORING_CQE_F_MORE,
	// and its result (in n) waits for the notification CQE
	// (backend_uring_sendzc_linux.go).
	notifPending bool
}

// readinessWait says where an operation waits on the readiness backends
// (backend_readiness.go).
type readinessWait struct {
	// parked: which queue holds the operation, so that Cancel finds it.
	parked parking
	// connectIssued: a Connect has been issued, so readiness means "look
	// at SO_ERROR", not "try again".
	connectIssued bool
}

// parking says where an in-flight operation of a readiness backend waits,
// so that Cancel can find and remove it.
type parking uint8

const (
	parkedNone  parking = iota
	parkedRead          // in its fd's readers FIFO
	parkedWrite         // in its fd's writers FIFO
	parkedFile          // handed to the file worker pool
	parkedPool          // a pooled receive in its BufferPool's waiters (pool.go)
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
	opFallocate
	opFtruncate
	opRenameat
	opUnlinkat
	opMkdirat
	opLinkat
	opSymlinkat
	opFadvise
	opSyncFileRange
	opLinkTimeout
	// Network at scale (issue 15): pooled and multishot receives, multishot
	// accept; datagrams and messages; registered buffers and zero-copy send.
	opRecvPooled
	opRecvMultishot
	opAcceptMultishot
	opSendTo
	opRecvFrom
	opSendMsg
	opRecvMsg
	opReadFixed
	opWriteFixed
	opSendZC
	opRecvFromMultishot
)

var opcodeNames = [...]string{
	opNone: "none", opNop: "Nop", opNextTick: "NextTick", opTimeout: "Timeout",
	opAccept: "Accept", opConnect: "Connect", opRecv: "Recv", opSend: "Send",
	opRead: "Read", opWrite: "Write", opReadv: "Readv", opWritev: "Writev",
	opFsync: "Fsync", opClose: "Close", opOpenAt: "OpenAt", opStatx: "Statx",
	opShutdown: "Shutdown", opCancel: "Cancel", opWaitEvent: "WaitEvent",
	opFallocate: "Fallocate", opFtruncate: "Ftruncate", opRenameat: "Renameat",
	opUnlinkat: "Unlinkat", opMkdirat: "Mkdirat", opLinkat: "Linkat",
	opSymlinkat: "Symlinkat", opFadvise: "Fadvise", opSyncFileRange: "SyncFileRange",
	opLinkTimeout: "LinkTimeout",
	opRecvPooled:  "RecvPooled", opRecvMultishot: "RecvMultishot", opAcceptMultishot: "AcceptMultishot",
	opSendTo: "SendTo", opRecvFrom: "RecvFrom", opSendMsg: "SendMsg", opRecvMsg: "RecvMsg",
	opReadFixed: "ReadFixed", opWriteFixed: "WriteFixed", opSendZC: "SendZC",
	opRecvFromMultishot: "RecvFromMultishot",
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
	if c.op == opSend || c.op == opSendZC {
		return c.sent()
	}
	return int(c.n)
}

// Pending reports whether the Completion is submitted and its callback has
// not started yet. A pending Completion must not be submitted again.
func (c *Completion) Pending() bool { return c.state != stateIdle }

// releaseArguments resets the argument groups once the kernel can no
// longer touch them, so that a finished Completion does not keep user
// memory alive. It touches only the group of the operation that ran. Two
// things stay: storage the Completion owns and reuses (rare.iovecs,
// rare.pathNUL),
// and a Send's progress, which Result reports after the callback (Send
// resets it at submission).
func (c *Completion) releaseArguments() {
	switch c.op {
	case opRecv, opSend, opRead, opWrite, opReadFixed, opWriteFixed, opSendZC:
		c.io.buf = nil
	case opReadv, opWritev:
		c.rare.bufs = nil
		clear(c.rare.iovecs)
	case opSendTo, opRecvFrom, opSendMsg, opRecvMsg:
		// The sender, msg_namelen, msg_controllen and msg_flags stay: the
		// callback reads them after this (callback.go, messageCallback).
		c.io.buf = nil
		c.rare.bufs = nil
		c.rare.oob = nil
		c.rare.msg.Control = nil
		clear(c.rare.iovecs)
	case opStatx:
		c.rare.statx = nil
	case opCancel, opLinkTimeout, opWaitEvent:
		c.peer = nil
	}
}

// progress returns the bytes an operation transferred before it failed or
// was canceled: only Send makes progress across several kernel requests.
func (c *Completion) progress() int {
	if c.op == opSend || c.op == opSendZC {
		return c.sent()
	}
	return 0
}
