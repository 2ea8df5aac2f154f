package ioloop

import (
	"errors"
	"math"
	"runtime"
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
// Reaped CQEs go to Loop.completeFast or Loop.complete (results.go), which
// queue callbacks; poll never runs callbacks itself.
type uringBackend struct {
	kernelClock
	kernelSockets
	loop     *Loop
	ring     *uring.Ring
	overflow fifo
	// overflowSeen is the overflow FIFO's high-water mark (Stats).
	overflowSeen overflowWatermark

	// cqOverflows counts reaps that found completions the kernel buffered
	// because the CQ was full (IORING_SQ_CQ_OVERFLOW); tests read it.
	cqOverflows int

	// The wakeup (backend_uring_wake_linux.go): an eventfd, the read that waits on
	// it while the loop blocks, and the read's buffer.
	wakeFD    int
	wakeArmed bool
	wakeBuf   [8]byte
	// doorbells rings other io_uring loops (Message); nil without
	// IORING_OP_MSG_RING.
	doorbells *doorbells

	// singleIssuer: the ring was set up for one thread
	// (Options.LockedThread); deferTaskrun: with DEFER_TASKRUN.
	singleIssuer bool
	deferTaskrun bool

	// diverted marks, by operation, the submissions that submit must look
	// at before writing an SQE: the file operations whose opcode this
	// kernel lacks (onWorkers), Fadvise and SyncFileRange (a length the
	// SQE's 32 bits cannot hold), and Cancel (a target on the workers).
	// One table load keeps the common path as it was.
	diverted [256]bool
	// onWorkers marks the operations that run on files (the readiness
	// backends' worker pool) because the kernel lacks their opcode
	// (IORING_OP_FTRUNCATE needs 6.9, MKDIRAT, SYMLINKAT and LINKAT 5.15).
	onWorkers [256]bool
	// fileTable: the kernel's registered-file table exists (created
	// sparse at the first RegisterFile; backend_uring_fixed_linux.go).
	fileTable bool

	// bufRings: the kernel has provided-buffer rings and multishot
	// receive (backend_uring_pool_linux.go); nextGroup is the next buffer
	// group id never used and freeGroups those of closed pools.
	bufRings   bool
	nextGroup  int
	freeGroups []uint16

	// files runs them; filesInPool counts those handed over and not yet
	// collected. Its workers start on first use: a kernel with every
	// opcode never starts one.
	files       filePool
	filesInPool int
}

// uringOptionalOps are the file operations with an io_uring opcode that
// older kernels lack; each runs on the worker pool where it is missing.
var uringOptionalOps = [...]struct {
	op     opcode
	opcode uint8
}{
	{opFallocate, uring.OpFallocate},
	{opFadvise, uring.OpFadvise},
	{opSyncFileRange, uring.OpSyncFileRange},
	{opRenameat, uring.OpRenameat},
	{opUnlinkat, uring.OpUnlinkat},
	{opMkdirat, uring.OpMkdirat},
	{opSymlinkat, uring.OpSymlinkat},
	{opLinkat, uring.OpLinkat},
	{opFtruncate, uring.OpFtruncate},
}

// uringPretendMissing, when set (by whitebox tests only, before New),
// makes setup treat the opcodes it reports true for as missing, so that
// the worker fallback of a new kernel can be tested on it.
var uringPretendMissing func(opcode uint8) bool

// uringRequiredOps are the opcodes the operation set needs.
var uringRequiredOps = []uint8{
	uring.OpNop, uring.OpReadv, uring.OpWritev, uring.OpFsync,
	uring.OpAccept, uring.OpAsyncCancel, uring.OpConnect, uring.OpOpenat,
	uring.OpClose, uring.OpStatx, uring.OpRead, uring.OpWrite, uring.OpSend,
	uring.OpRecv, uring.OpShutdown, uring.OpSendmsg, uring.OpRecvmsg,
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

// uringLockedThreadFlags are tried first for a loop that one OS thread
// owns (Options.LockedThread). SINGLE_ISSUER (6.0) promises the kernel one
// submitting thread; DEFER_TASKRUN (6.1, which requires it) runs
// completion work only when that thread asks for events, instead of
// interrupting it. Measured (docs/ARCHITECTURE.md): about 13% more
// single-operation round trips, no difference at larger batches or on
// echo. TASKRUN_FLAG is essential here: without it a non-blocking pass
// cannot tell that deferred completions wait, and would never see them.
var uringLockedThreadFlags = []uint32{
	uring.SetupSubmitAll | uring.SetupSingleIssuer | uring.SetupDeferTaskrun | uring.SetupTaskrunFlag | uring.SetupNoSQArray,
	uring.SetupSubmitAll | uring.SetupSingleIssuer | uring.SetupDeferTaskrun | uring.SetupTaskrunFlag,
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
	ring, err := setupRing(entries, opts.CompletionEntries, opts.LockedThread)
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
	supported, err := ring.Probe()
	if err != nil {
		ring.Close()
		return nil, &SetupError{Backend: BackendIOUring, Err: err, Reason: "IORING_REGISTER_PROBE failed"}
	}
	if missing := missingOps(supported); len(missing) > 0 {
		ring.Close()
		return nil, &SetupError{Backend: BackendIOUring, Err: errors.ErrUnsupported,
			Reason: "kernel lacks io_uring operations " + joinNames(missing)}
	}
	b := &uringBackend{kernelClock: newKernelClock(), loop: l, ring: ring,
		singleIssuer: params.Flags&uring.SetupSingleIssuer != 0,
		deferTaskrun: params.Flags&uring.SetupDeferTaskrun != 0}
	if err := b.openWake(); err != nil {
		ring.Close()
		return nil, &SetupError{Backend: BackendIOUring, Err: err, Reason: "cannot create the wakeup eventfd"}
	}
	if int(uring.OpMsgRing) < len(supported) && supported[uring.OpMsgRing] {
		b.doorbells = &doorbells{b: b, skipSuccess: params.Features&uring.FeatCQESkip != 0}
	}
	b.routeFileOps(supported)
	b.detectBufRings()
	l.fixed.nativeBuffers = true // READ_FIXED and WRITE_FIXED are as old as io_uring (5.1)
	l.fixed.nativeSendZC = int(uring.OpSendZC) < len(supported) && supported[uring.OpSendZC] &&
		(uringPretendMissing == nil || !uringPretendMissing(uring.OpSendZC))
	workers := opts.FileWorkers
	if workers == 0 {
		workers = DefaultFileWorkers
	}
	b.files.init(workers, l.wakeLoop)
	return b, nil
}

// routeFileOps decides, from the probe, which file operations run on the
// workers instead of the kernel.
func (b *uringBackend) routeFileOps(supported []bool) {
	for _, o := range uringOptionalOps {
		has := int(o.opcode) < len(supported) && supported[o.opcode]
		if !has || (uringPretendMissing != nil && uringPretendMissing(o.opcode)) {
			b.onWorkers[o.op] = true
			b.diverted[o.op] = true
		}
	}
	b.diverted[opFadvise] = true
	b.diverted[opSyncFileRange] = true
	b.diverted[opCancel] = true
}

// runsOnWorkers reports whether c, about to be submitted, goes to the
// worker pool rather than the kernel: its opcode is missing, or its length
// does not fit the SQE. FADVISE and SYNC_FILE_RANGE carry the length in
// the SQE's 32-bit len field; newer kernels (from about 6.12) also read a
// 64-bit FADVISE length from addr, but older ones reject a non-zero addr with EINVAL and no
// probe tells the two apart, so a length of 4 GiB or more (rare: 0 means
// "to the end") runs fadvise64(2) or sync_file_range(2) on a worker, on
// every kernel alike.
func (b *uringBackend) runsOnWorkers(c *Completion) bool {
	if b.onWorkers[c.op] {
		return true
	}
	return (c.op == opFadvise || c.op == opSyncFileRange) && c.rare.lengthBytes > math.MaxUint32
}

func setupRing(entries, cqEntries uint32, lockedThread bool) (*uring.Ring, error) {
	candidates := uringSetupFlags
	if lockedThread {
		candidates = append(uringLockedThreadFlags[:len(uringLockedThreadFlags):len(uringLockedThreadFlags)], uringSetupFlags...)
	}
	var err error
	for _, flags := range candidates {
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

func missingOps(supported []bool) []string {
	var missing []string
	for _, op := range uringRequiredOps {
		if int(op) >= len(supported) || !supported[op] {
			missing = append(missing, uring.OpName(op))
		}
	}
	return missing
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
	if b.diverted[c.op] && b.divert(c) {
		return
	}
	if b.overflow.head == nil {
		if sqe := b.ring.GetSQE(); sqe != nil {
			b.prep(sqe, c)
			return
		}
	}
	b.overflow.push(c)
}

// divert takes c away from the kernel if it runs on the workers (or is a
// Cancel of an operation there) and reports whether it did.
func (b *uringBackend) divert(c *Completion) bool {
	switch c.op {
	case opRecvPooled, opRecvMultishot, opRecvFromMultishot:
		return b.takeFallbackBuffer(c)
	}
	if c.op == opCancel {
		if t := c.cancelTarget(); t.wait.parked == parkedFile {
			b.cancelOnWorkers(c, t)
			return true
		}
		return false
	}
	if !b.runsOnWorkers(c) {
		return false
	}
	c.state = stateInFlight
	c.wait.parked = parkedFile
	b.filesInPool++
	b.files.submit(c)
	return true
}

// cancelOnWorkers answers Cancel c of t, an operation on the workers, as
// the readiness backends do: one no worker has started is taken back and
// fails with ErrCanceled; one running cannot be interrupted (EALREADY)
// and completes with its own result.
func (b *uringBackend) cancelOnWorkers(c, t *Completion) {
	c.state = stateInFlight
	b.loop.completeWith(c, 0, b.abandon(t))
}

// collectFiles completes the operations the workers finished, like a reap.
func (b *uringBackend) collectFiles() {
	finished := b.files.takeDone()
	for c := finished.pop(); c != nil; c = finished.pop() {
		c.wait.parked = parkedNone
		b.filesInPool--
		b.loop.complete(c, c.n)
	}
}

func (b *uringBackend) resubmit(c *Completion) {
	c.state = stateQueued
	b.submit(c)
}

func (b *uringBackend) unqueue(c *Completion) bool {
	if c.link != 0 {
		return false // a chain reaches the kernel whole; the kernel cancels its operations
	}
	// A continued Send keeps its token while queued; Loop.finish retires it.
	return b.overflow.remove(c)
}

// submitChain implements backend.submitChain: the chain's SQEs must reach
// the kernel in one submission, contiguous, or the kernel would end the
// chain at the submission's end. So it is written to the SQ whole, or
// queued whole in the overflow FIFO, which drainOverflow moves whole.
func (b *uringBackend) submitChain(first *Completion, length int) bool {
	for c := first; c != nil; c = c.rare.chainNext {
		if b.runsOnWorkers(c) {
			// An operation the kernel cannot run (a missing opcode, a
			// length too long for the SQE) cannot be linked to by the
			// kernel either: the loop runs this chain (chain.go).
			return false
		}
	}
	if uint32(length) > b.ring.SQEntries() {
		b.loop.chainTooLong(first, length, b.ring.SQEntries())
	}
	direct := b.overflow.head == nil && b.ring.SQSpace() >= uint32(length)
	for c := first; c != nil; c = c.rare.chainNext {
		if direct {
			b.prep(b.ring.GetSQE(), c)
		} else {
			b.overflow.push(c)
		}
	}
	return true
}

// abandon implements backend.abandon for the chains the loop runs on
// io_uring (one of whose operations runs on the workers): an operation
// still queued or on the workers is taken back as a Cancel would; one in
// the kernel is canceled by an internal ASYNC_CANCEL, whose own CQE is
// ignored, and completes (with ECANCELED, or its own result if it won the
// race) through the ring; codeNone says the cancellation is under way.
func (b *uringBackend) abandon(c *Completion) errorCode {
	switch {
	case c.wait.parked == parkedFile:
		if !b.files.cancel(c) {
			return errorCode(syscall.EALREADY)
		}
		b.filesInPool--
		c.wait.parked = parkedNone
	case c.state == stateQueued:
		if !b.overflow.remove(c) {
			return codeNotFound
		}
	case c.state == stateInFlight && c.token != 0:
		sqe := b.ring.GetSQE()
		if sqe == nil {
			b.flush()
			if sqe = b.ring.GetSQE(); sqe == nil {
				return codeNotFound // the kernel holds a full SQ: let the operation finish
			}
		}
		sqe.Opcode = uring.OpAsyncCancel
		sqe.Fd = -1
		sqe.Addr = c.token
		sqe.UserData = internalToken
		return codeNone
	default:
		return codeNotFound
	}
	b.loop.completeWith(c, c.progress(), codeCanceled)
	return codeNone
}

// prep fills sqe for c and moves c in flight. The kernel reads every
// pointer stored here either at submission (FEAT_SUBMIT_STABLE) or, for
// buffers, until the CQE; all of it stays referenced by c until then.
func (b *uringBackend) prep(sqe *uring.SQE, c *Completion) {
	if c.token == 0 {
		b.loop.issueToken(c)
	}
	c.state = stateInFlight
	sqe.UserData = c.token
	sqe.Fd = c.fd
	switch c.op {
	case opNop:
		sqe.Opcode = uring.OpNop
		sqe.Fd = -1
	case opAccept:
		sqe.Opcode = uring.OpAccept
		sqe.OpFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	case opConnect:
		sqe.Opcode = uring.OpConnect
		sqe.Addr = uint64(uintptr(unsafe.Pointer(&c.rare.sockaddr)))
		sqe.Off = uint64(c.rare.sockaddrLen)
	case opRecv:
		sqe.Opcode = uring.OpRecv
		setBuffer(sqe, c.io.buf)
	case opSend:
		sqe.Opcode = uring.OpSend
		setBuffer(sqe, c.io.buf[c.sent():])
		sqe.OpFlags = sendFlags
	case opSendZC:
		prepSendZC(sqe, c)
	case opRecvPooled, opRecvMultishot, opAcceptMultishot, opRecvFromMultishot:
		b.prepPooled(sqe, c)
	case opReadFixed, opWriteFixed:
		prepFixed(sqe, c)
	case opRead, opWrite:
		sqe.Opcode = uring.OpRead
		if c.op == opWrite {
			sqe.Opcode = uring.OpWrite
		}
		setBuffer(sqe, c.io.buf)
		sqe.Off = uint64(c.io.offset) // -1 becomes the "current position" marker
		sqe.OpFlags = durableRWFlags[c.flags&3]
	case opReadv, opWritev:
		sqe.Opcode = uring.OpReadv
		if c.op == opWritev {
			sqe.Opcode = uring.OpWritev
		}
		sqe.Addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(c.rare.iovecs))))
		sqe.Len = uint32(len(c.rare.iovecs))
		sqe.Off = uint64(c.io.offset)
		sqe.OpFlags = durableRWFlags[c.flags&3]
	case opFsync:
		sqe.Opcode = uring.OpFsync
		sqe.OpFlags = c.flags
	case opClose:
		sqe.Opcode = uring.OpClose
	case opOpenAt:
		sqe.Opcode = uring.OpOpenat
		sqe.Addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(c.rare.pathNUL))))
		sqe.Len = c.rare.mode
		sqe.OpFlags = c.flags
	case opStatx:
		sqe.Opcode = uring.OpStatx
		sqe.Addr = uint64(uintptr(unsafe.Pointer(unsafe.SliceData(c.rare.pathNUL))))
		sqe.Len = c.rare.mode
		sqe.OpFlags = c.flags
		sqe.Off = uint64(uintptr(unsafe.Pointer(c.rare.statx)))
	case opShutdown:
		sqe.Opcode = uring.OpShutdown
		sqe.Len = c.flags
	case opSendTo, opSendMsg:
		// The kernel copies the msghdr at submission; the buffers, the
		// control data and the address stay referenced by c anyway.
		sqe.Opcode = uring.OpSendmsg
		sqe.Addr = uint64(uintptr(unsafe.Pointer(&c.rare.msg)))
		sqe.Len = 1
		sqe.OpFlags = unix.MSG_NOSIGNAL
	case opRecvFrom, opRecvMsg:
		// recvmsg writes msg_namelen, msg_controllen and msg_flags back
		// into c.rare.msg when it completes: c keeps it referenced until
		// the callback, which reads them (callback.go).
		sqe.Opcode = uring.OpRecvmsg
		sqe.Addr = uint64(uintptr(unsafe.Pointer(&c.rare.msg)))
		sqe.Len = 1
	case opCancel:
		sqe.Opcode = uring.OpAsyncCancel
		sqe.Fd = -1
		sqe.Addr = c.targetToken()
	case opLinkTimeout:
		sqe.Opcode = uring.OpLinkTimeout
		sqe.Fd = -1
		sqe.Addr = uint64(uintptr(unsafe.Pointer(&c.rare.timeout)))
		sqe.Len = 1
	case opFallocate:
		sqe.Opcode = uring.OpFallocate
		sqe.Off = uint64(c.io.offset)
		sqe.Addr = uint64(c.rare.lengthBytes)
		sqe.Len = c.rare.mode
	case opFtruncate:
		sqe.Opcode = uring.OpFtruncate
		sqe.Off = uint64(c.rare.lengthBytes)
	case opFadvise, opSyncFileRange:
		sqe.Opcode = uring.OpFadvise
		if c.op == opSyncFileRange {
			sqe.Opcode = uring.OpSyncFileRange
		}
		sqe.Off = uint64(c.io.offset)
		sqe.Len = uint32(c.rare.lengthBytes) // below 4 GiB: longer ones run on a worker (runsOnWorkers)
		sqe.OpFlags = c.flags
	case opRenameat, opLinkat:
		sqe.Opcode = uring.OpRenameat
		if c.op == opLinkat {
			sqe.Opcode = uring.OpLinkat
		}
		sqe.Addr = pathAddr(c.rare.pathNUL)
		sqe.Len = uint32(c.rare.dirFD2)
		sqe.Off = pathAddr(c.rare.path2NUL)
		sqe.OpFlags = c.flags // RenameNoReplace and RenameExchange are Linux's RENAME_ values
	case opUnlinkat:
		sqe.Opcode = uring.OpUnlinkat
		sqe.Addr = pathAddr(c.rare.pathNUL)
		sqe.OpFlags = c.flags
	case opMkdirat:
		sqe.Opcode = uring.OpMkdirat
		sqe.Addr = pathAddr(c.rare.pathNUL)
		sqe.Len = c.rare.mode
	case opSymlinkat:
		sqe.Opcode = uring.OpSymlinkat
		sqe.Fd = c.rare.dirFD2
		sqe.Addr = pathAddr(c.rare.pathNUL)
		sqe.Off = pathAddr(c.rare.path2NUL)
	default:
		panic("ioloop: internal error: io_uring backend cannot prepare " + c.op.String())
	}
	if b.loop.fixed.files > 0 {
		b.useFixedFile(sqe, c)
	}
	if c.link&(linkToNext|linkEmulated) == linkToNext {
		sqe.Flags |= uring.SQEIOLink // the kernel's chain, not one the loop runs
	}
}

// sendFlags are the msg_flags of Send and SendZC: never SIGPIPE, and the
// kernel itself continues a short send on a stream socket.
const sendFlags = unix.MSG_NOSIGNAL | unix.MSG_WAITALL

// durableRWFlags are the rw_flags of a Write or Writev by its Durability
// (c.flags: 0 for a plain write or any read).
var durableRWFlags = [4]uint32{DataSync: uring.RWFDSync, FileSync: uring.RWFSync}

// pathAddr is the address of a NUL-terminated path the Completion keeps;
// the kernel copies it at submission.
func pathAddr(pathNUL []byte) uint64 {
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(pathNUL))))
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
	wait := timeoutNs != 0 && !b.loop.callbacksReady() && b.ring.CQReady() == 0 &&
		b.armWake() && b.loop.announceSleep(loopInKernel, &b.files.doneCount)
	toSubmit := b.ring.Publish()
	// With DEFER_TASKRUN, asking for events along with a submission costs
	// nothing and posts the completions the kernel deferred, on kernels
	// whose TASKRUN flag might lag.
	getEvents := wait || b.ring.CQOverflowPending() || b.ring.TaskrunPending() || (b.deferTaskrun && toSubmit > 0)
	if toSubmit > 0 || getEvents {
		minComplete := uint32(0)
		if wait {
			minComplete = 1
		}
		_, err := b.ring.Enter(toSubmit, getEvents, minComplete, timeoutNs)
		if wait {
			b.loop.awake()
		}
		if err != nil && !transientEnterError(err) {
			return b.enterError(err)
		}
	}
	if b.filesInPool > 0 {
		if !wait && b.files.doneCount.Load() == 0 {
			// As on the readiness backends: with GOMAXPROCS=1 a program
			// polling in a tight loop would keep the workers from running.
			runtime.Gosched()
		}
		b.collectFiles()
	}
	return b.reap()
}

// enterError turns the error of a ring set up for one thread, entered from
// another, into the programming error it is.
func (b *uringBackend) enterError(err error) error {
	if err == syscall.EEXIST && b.singleIssuer {
		panic("ioloop: a Loop created with Options.LockedThread was driven from another OS thread; " +
			"create it and call RunFor, Tick, Run and Close only from one goroutine that called runtime.LockOSThread")
	}
	return err
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
	b.overflowSeen.observe(b.overflow.size)
	for !b.overflow.empty() {
		moved := 0
		for !b.overflow.empty() {
			if c := b.overflow.head; c.link&linkFirst != 0 && b.ring.SQSpace() < uint32(c.rare.chainLength) {
				break // a chain goes whole, into a submission of its own if need be
			}
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
			if isInternalToken(token) {
				b.internalCompletion(token, res)
				continue
			}
			c := b.loop.lookupToken(token)
			if c == nil {
				panic("ioloop: internal error: completion for an unknown token")
			}
			if cqeFlagged[c.op] {
				b.completeFlagged(c, res, cqe.Flags)
				continue
			}
			if b.loop.completeFast(c, res) {
				continue // its token is freed or renewed after its callback (Loop.keepToken)
			}
			if res == -int32(syscall.EAGAIN) && retriedOnEAGAIN[c.op] && c.link == 0 {
				b.retryReceive(c)
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

// retryReceive submits again a receive the kernel ended with EAGAIN
// (see retriedOnEAGAIN), unless it is being canceled: by a Cancel in
// flight, which would otherwise report ErrNotFound while the receive went
// on, or by Close, whose cancellations have already been sent. Those end
// it with ErrCanceled, which is what the cancellation asked for.
func (b *uringBackend) retryReceive(c *Completion) {
	if c.send.cancelsInFlight > 0 || b.loop.isClosing() {
		b.loop.completeWith(c, 0, codeCanceled)
		return
	}
	if c.op == opRecvFrom || c.op == opRecvMsg {
		c.rearmReceive()
	}
	b.resubmit(c)
}

// cancelAll cancels queued completions directly and asks the kernel to
// cancel everything in flight; the kernel's answers arrive through poll.
func (b *uringBackend) cancelAll() {
	for c := b.overflow.pop(); c != nil; c = b.overflow.pop() {
		b.loop.completeWith(c, c.progress(), codeCanceled)
	}
	// Operations on the workers that none has started; the running ones
	// finish, and Close polls until they are collected.
	queued := b.files.cancelQueued()
	for c := queued.pop(); c != nil; c = queued.pop() {
		b.filesInPool--
		c.wait.parked = parkedNone
		b.loop.completeWith(c, 0, codeCanceled)
	}
	b.loop.forEachInFlight(func(token uint64) {
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

// backendStats implements statsBackend.
func (b *uringBackend) backendStats() backendStats {
	return b.overflowSeen.stats(b.ring.Enters(), b.overflow.size)
}

func (b *uringBackend) close() error {
	b.files.stop() // first: a worker's wakeup writes to the eventfd closeWake closes
	err := b.closeWake()
	if err2 := b.ring.Close(); err == nil {
		err = err2
	}
	return err
}
