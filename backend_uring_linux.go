package ioloop

import (
	"errors"
	"syscall"
	"unsafe"

	"github.com/ioloop/ioloop/internal/uring"
	"golang.org/x/sys/unix"
)

// uringBackend runs operations on io_uring: the kernel performs the I/O and
// the loop only writes SQEs and reads CQEs.
//
// Path of an operation: submit writes an SQE directly when the SQ has room
// and nothing is waiting before it; otherwise the Completion joins the
// overflow FIFO, which poll drains into the SQ first, in order. poll then
// publishes the SQ tail and makes one io_uring_enter that both submits and,
// when the loop has nothing else to do, waits with a timeout (EXT_ARG).
// Reaped CQEs go to Loop.complete, which queues callbacks; poll never runs
// callbacks itself.
type uringBackend struct {
	loop     *Loop
	ring     *uring.Ring
	overflow fifo

	// cqOverflows counts reaps that found completions the kernel buffered
	// because the CQ was full (IORING_SQ_CQ_OVERFLOW); tests read it.
	cqOverflows int
}

// uringRequiredOps are the opcodes the operation set needs.
var uringRequiredOps = []uint8{
	uring.OpNop, uring.OpReadv, uring.OpWritev, uring.OpFsync, uring.OpTimeout,
	uring.OpAccept, uring.OpAsyncCancel, uring.OpConnect, uring.OpOpenat,
	uring.OpClose, uring.OpStatx, uring.OpRead, uring.OpWrite, uring.OpSend,
	uring.OpRecv, uring.OpShutdown,
}

// uringSetupFlags are tried in order: the newest first, falling back when an
// older kernel rejects a flag with EINVAL. SUBMIT_ALL (5.18) keeps one bad
// SQE from stalling the rest of a batch; COOP_TASKRUN with TASKRUN_FLAG
// (5.19) spares the interrupt that would otherwise notify us of each
// completion, and the flag tells us when an io_uring_enter is needed to
// post them; NO_SQARRAY (6.6) removes an indirection per SQE in the kernel
// (measured: about 3 ns per NOP at batch 128).
var uringSetupFlags = []uint32{
	uring.SetupSubmitAll | uring.SetupCoopTaskrun | uring.SetupTaskrunFlag | uring.SetupNoSQArray,
	uring.SetupSubmitAll | uring.SetupCoopTaskrun | uring.SetupTaskrunFlag,
	uring.SetupSubmitAll,
	0,
}

func newURingBackend(l *Loop, opts Options) (*uringBackend, error) {
	entries := opts.Entries
	if entries == 0 {
		entries = DefaultEntries
	}
	if opts.CompletionEntries != 0 && opts.CompletionEntries < entries {
		return nil, &SetupError{Backend: BackendIOUring, Err: syscall.EINVAL,
			Reason: "Options.CompletionEntries is smaller than Options.Entries"}
	}
	ring, err := setupRing(entries, opts.CompletionEntries)
	if err != nil {
		return nil, err
	}
	params := ring.Params()
	if params.Features&uring.FeatExtArg == 0 {
		ring.Close()
		return nil, &SetupError{Backend: BackendIOUring, Err: errors.ErrUnsupported, Reason: uring.ErrNoExtArg.Error()}
	}
	if params.Features&uring.FeatNodrop == 0 {
		ring.Close()
		return nil, &SetupError{Backend: BackendIOUring, Err: errors.ErrUnsupported,
			Reason: "kernel lacks IORING_FEAT_NODROP (completions could be lost)"}
	}
	if missing, err := missingOps(ring); err != nil || len(missing) > 0 {
		ring.Close()
		if err != nil {
			return nil, &SetupError{Backend: BackendIOUring, Err: err, Reason: "IORING_REGISTER_PROBE failed"}
		}
		return nil, &SetupError{Backend: BackendIOUring, Err: errors.ErrUnsupported,
			Reason: "kernel lacks io_uring operations " + joinNames(missing)}
	}
	return &uringBackend{loop: l, ring: ring}, nil
}

func setupRing(entries, cqEntries uint32) (*uring.Ring, error) {
	var err error
	for _, flags := range uringSetupFlags {
		var ring *uring.Ring
		ring, err = uring.Setup(entries, cqEntries, flags)
		if err == nil {
			return ring, nil
		}
		if err != syscall.EINVAL {
			break
		}
	}
	return nil, &SetupError{Backend: BackendIOUring, Err: err, Reason: explainSetupErrno(err)}
}

// explainSetupErrno says why io_uring_setup failed, in operator terms.
func explainSetupErrno(err error) string {
	switch err {
	case syscall.ENOSYS:
		return "io_uring_setup is not implemented: kernel built without CONFIG_IO_URING, or the syscall is blocked by a seccomp profile"
	case syscall.EPERM:
		switch readSysctl("/proc/sys/kernel/io_uring_disabled") {
		case "2":
			return "io_uring is disabled by sysctl kernel.io_uring_disabled=2"
		case "1":
			return "io_uring is restricted by sysctl kernel.io_uring_disabled=1 to members of kernel.io_uring_group"
		}
		return "io_uring_setup is not permitted: most likely a seccomp profile (Docker 25+ and containerd 2 block io_uring by default)"
	case syscall.ENOMEM:
		return "not enough lockable memory for the rings: raise RLIMIT_MEMLOCK (ulimit -l) or use smaller Options.Entries"
	case syscall.EINVAL:
		return "the kernel rejected the ring parameters (kernel too old, or ring sizes out of range)"
	case syscall.EMFILE, syscall.ENFILE:
		return "out of file descriptors"
	}
	return "io_uring_setup failed"
}

func readSysctl(path string) string {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	var buf [16]byte
	n, err := unix.Read(fd, buf[:])
	if err != nil || n <= 0 {
		return ""
	}
	for n > 0 && (buf[n-1] == '\n' || buf[n-1] == ' ') {
		n--
	}
	return string(buf[:n])
}

func missingOps(ring *uring.Ring) ([]string, error) {
	supported, err := ring.Probe()
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, op := range uringRequiredOps {
		if int(op) >= len(supported) || !supported[op] {
			missing = append(missing, uring.OpName(op))
		}
	}
	return missing, nil
}

func joinNames(names []string) string {
	joined := ""
	for i, name := range names {
		if i > 0 {
			joined += ", "
		}
		joined += name
	}
	return joined
}

func (b *uringBackend) submit(c *Completion) {
	if b.overflow.head == nil {
		if sqe := b.ring.GetSQE(); sqe != nil {
			b.prep(sqe, c)
			return
		}
	}
	b.overflow.push(c)
}

func (b *uringBackend) resubmit(c *Completion) {
	c.state = stateQueued
	b.submit(c)
}

func (b *uringBackend) unqueue(c *Completion) bool {
	// A continued Send keeps its token while queued; Loop.finish retires it.
	return b.overflow.remove(c)
}

// prep fills sqe for c and moves c in flight. The kernel reads every
// pointer stored here either at submission (FEAT_SUBMIT_STABLE) or, for
// buffers, until the CQE; all of it stays referenced by c until then.
func (b *uringBackend) prep(sqe *uring.SQE, c *Completion) {
	if c.token == 0 {
		c.token = b.loop.inflight.add(c)
	}
	c.state = stateInFlight
	sqe.UserData = c.token
	sqe.Fd = c.fd
	switch c.op {
	case opNop:
		sqe.Opcode = uring.OpNop
		sqe.Fd = -1
	case opTimeout:
		sqe.Opcode = uring.OpTimeout
		sqe.Fd = -1
		c.timespec = kernelTimespec{sec: c.timeoutNs / 1e9, nsec: c.timeoutNs % 1e9}
		sqe.Addr = uint64(uintptr(unsafe.Pointer(&c.timespec)))
		sqe.Len = 1
	case opAccept:
		sqe.Opcode = uring.OpAccept
		sqe.OpFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	case opConnect:
		sqe.Opcode = uring.OpConnect
		sqe.Addr = uint64(uintptr(unsafe.Pointer(&c.sockaddr)))
		sqe.Off = uint64(c.sockaddrLen)
	case opRecv:
		sqe.Opcode = uring.OpRecv
		setBuffer(sqe, c.buf)
	case opSend:
		sqe.Opcode = uring.OpSend
		setBuffer(sqe, c.buf[c.transferred:])
		sqe.OpFlags = unix.MSG_NOSIGNAL | unix.MSG_WAITALL
	case opRead, opWrite:
		sqe.Opcode = uring.OpRead
		if c.op == opWrite {
			sqe.Opcode = uring.OpWrite
		}
		setBuffer(sqe, c.buf)
		sqe.Off = uint64(c.offset) // -1 becomes the "current position" marker
	case opReadv, opWritev:
		sqe.Opcode = uring.OpReadv
		if c.op == opWritev {
			sqe.Opcode = uring.OpWritev
		}
		sqe.Addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(c.iovecs))))
		sqe.Len = uint32(len(c.iovecs))
		sqe.Off = uint64(c.offset)
	case opFsync:
		sqe.Opcode = uring.OpFsync
		sqe.OpFlags = c.flags
	case opClose:
		sqe.Opcode = uring.OpClose
	case opOpenAt:
		sqe.Opcode = uring.OpOpenat
		sqe.Addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(c.path))))
		sqe.Len = c.mode
		sqe.OpFlags = c.flags
	case opStatx:
		sqe.Opcode = uring.OpStatx
		sqe.Addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(c.path))))
		sqe.Len = c.mode
		sqe.OpFlags = c.flags
		sqe.Off = uint64(uintptr(unsafe.Pointer(c.statx)))
	case opShutdown:
		sqe.Opcode = uring.OpShutdown
		sqe.Len = c.flags
	case opCancel:
		sqe.Opcode = uring.OpAsyncCancel
		sqe.Fd = -1
		sqe.Addr = c.targetToken
	default:
		panic("ioloop: internal error: io_uring backend cannot prepare " + c.op.String())
	}
}

func setBuffer(sqe *uring.SQE, buf []byte) {
	sqe.Addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	sqe.Len = uint32(min(len(buf), maxIOLen))
}

// flush implements backend.flush: one io_uring_enter that submits the SQEs
// written so far (the overflow FIFO waits for the next poll).
func (b *uringBackend) flush() {
	if toSubmit := b.ring.Publish(); toSubmit > 0 {
		_, _ = b.ring.Enter(toSubmit, false, 0, 0)
	}
}

// poll implements backend.poll. Its loops are bounded: draining the
// overflow stops when a round moves nothing, and reaping is bounded by the
// CQ contents plus a fixed number of overflow flushes.
func (b *uringBackend) poll(timeoutNs int64) error {
	if err := b.drainOverflow(); err != nil {
		return err
	}
	toSubmit := b.ring.Publish()
	wait := timeoutNs != 0 && b.loop.completed.empty() && b.ring.CQReady() == 0
	getEvents := wait || b.ring.CQOverflowPending() || b.ring.TaskrunPending()
	if toSubmit > 0 || getEvents {
		minComplete := uint32(0)
		if wait {
			minComplete = 1
		}
		if _, err := b.ring.Enter(toSubmit, getEvents, minComplete, timeoutNs); err != nil && !transientEnterError(err) {
			return err
		}
	}
	return b.reap()
}

// transientEnterError reports io_uring_enter errors that are part of normal
// operation: EINTR (a signal, such as Go's preemption signal, interrupted
// the wait), ETIME (the wait timed out), EAGAIN and EBUSY (the kernel is
// short of resources or holds overflowed completions; reaping frees them,
// and the unconsumed SQEs stay in the SQ for the next enter).
func transientEnterError(err error) bool {
	switch err {
	case syscall.EINTR, syscall.ETIME, syscall.EAGAIN, syscall.EBUSY:
		return true
	}
	return false
}

// drainOverflow moves queued completions into the SQ, submitting whenever
// it fills, until the overflow is empty or the kernel pushes back.
func (b *uringBackend) drainOverflow() error {
	for !b.overflow.empty() {
		moved := 0
		for !b.overflow.empty() {
			sqe := b.ring.GetSQE()
			if sqe == nil {
				break
			}
			b.prep(sqe, b.overflow.pop())
			moved++
		}
		if b.overflow.empty() {
			return nil
		}
		toSubmit := b.ring.Publish()
		consumed, err := b.ring.Enter(toSubmit, b.ring.CQOverflowPending(), 0, 0)
		if err != nil && !transientEnterError(err) {
			return err
		}
		// Reap between rounds so that a long overflow cannot overflow the CQ.
		if err := b.reap(); err != nil {
			return err
		}
		if moved == 0 && consumed == 0 {
			return nil // the kernel pushes back; try again on the next poll
		}
	}
	return nil
}

// maxOverflowFlushes bounds how many times one reap asks the kernel to move
// buffered (overflowed) completions into the CQ.
const maxOverflowFlushes = 64

// reap hands every ready CQE to the loop.
func (b *uringBackend) reap() error {
	for flush := 0; ; flush++ {
		head, tail := b.ring.CQHeadTail()
		for ; head != tail; head++ {
			cqe := b.ring.CQE(head)
			token, res := cqe.UserData, cqe.Res
			if token == internalToken {
				continue
			}
			c := b.loop.inflight.lookup(token)
			if c == nil {
				panic("ioloop: internal error: completion for an unknown token")
			}
			if b.loop.completeSimple(c, res) {
				b.loop.inflight.remove(token)
				c.token = 0
				continue
			}
			b.loop.complete(c, res)
		}
		b.ring.SetCQHead(head)
		if !b.ring.CQOverflowPending() || flush == maxOverflowFlushes {
			return nil
		}
		b.cqOverflows++
		if _, err := b.ring.Enter(0, true, 0, 0); err != nil && !transientEnterError(err) {
			return err
		}
	}
}

// cancelAll cancels queued completions directly and asks the kernel to
// cancel everything in flight; the kernel's answers arrive through poll.
func (b *uringBackend) cancelAll() {
	for c := b.overflow.pop(); c != nil; c = b.overflow.pop() {
		b.loop.settle(c, c.progress(), codeCanceled)
	}
	b.loop.inflight.forEach(func(token uint64, _ *Completion) {
		sqe := b.ring.GetSQE()
		for attempt := 0; sqe == nil && attempt < 1000; attempt++ {
			b.flush() // the SQ is full of cancellations: submit them to make room
			sqe = b.ring.GetSQE()
		}
		if sqe == nil {
			return // the kernel refuses submissions; Close waits for natural completion
		}
		sqe.Opcode = uring.OpAsyncCancel
		sqe.Fd = -1
		sqe.Addr = token
		sqe.UserData = internalToken
	})
}

func (b *uringBackend) close() error {
	return b.ring.Close()
}
