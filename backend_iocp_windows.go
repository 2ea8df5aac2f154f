package ioloop

import (
	"errors"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// iocpBackend runs operations on a Windows I/O completion port. Like
// io_uring it is completion-based: an operation is started in the kernel
// (WSARecv, WSASend, AcceptEx, ConnectEx, ReadFile, WriteFile, each with an
// OVERLAPPED) and its completion packet arrives later on the port, which
// GetQueuedCompletionStatusEx reaps in batches.
//
// Path of an operation: submit queues it (as io_uring queues an SQE); the
// next poll (or an early flush) starts it: the first time a handle is used
// it is associated with the port (once per handle, remembered in
// handles), then the overlapped call is made with a record from ops. A
// call that fails at once completes at once; one that is pending completes
// when its packet is reaped; one that succeeds at once completes inline,
// since handles get FILE_SKIP_COMPLETION_PORT_ON_SUCCESS and post no
// packet for it (see associate). Every result, wherever it comes from,
// goes through finish.
// Operations Windows has no overlapped form of (FlushFileBuffers,
// CreateFile) run on worker goroutines, which post their result to the
// same port, so the loop has one place to wait.
//
// Memory the kernel writes: every OVERLAPPED, with the words around it the
// kernel may write after the call returned (WSARecv's flags, AcceptEx's
// address buffer), is in an iocpOp record in chunks that are allocated
// once, pinned (runtime.Pinner: the collector may never move them, should
// it ever move objects), and referenced by the backend until close; a
// record is reused only after its packet was reaped. The buffers are the
// Completion's, which the loop keeps referenced until the callback, as on
// every backend.
//
// Handles: a SOCKET or file HANDLE travels as the API's fd (its value).
// The loop's overlapped calls need handles it may associate with its own
// port: an overlapped socket or file (the package's ListenTCP, TCPSocket,
// UDPSocket, OpenAt and Accept make them so) that no other completion port
// has claimed (Go's net package associates its sockets with the runtime's
// port; such a socket fails with EINVAL here). A handle opened for
// synchronous I/O has its reads and writes run on the workers instead
// (backend_iocp_sync_windows.go).
//
// Timeouts are the loop's (timers.go): the earliest deadline bounds the
// wait of GetQueuedCompletionStatusEx, rounded up to whole milliseconds.
// Post, Event.Trigger and Stop wake the wait with
// PostQueuedCompletionStatus.
type iocpBackend struct {
	kernelClock
	kernelSockets
	noDoorbells
	emulatedChains
	loop *Loop
	port windows.Handle

	// queued holds submitted operations not started yet, in order; they
	// are in flight for the loop, as on the readiness backends.
	queued       fifo
	queuedSeen   overflowWatermark
	kernelEnters uint64

	// ops holds the records of started operations; outstanding counts
	// those whose packet has not been reaped (kernel or worker).
	ops         iocpOps
	outstanding int
	entries     []overlappedEntry
	// handles remembers, per handle the loop has used, what it learned
	// (kind, association with the port, family, position).
	handles map[windows.Handle]handleState
	workers iocpWorkers
	// connectEx is the ConnectEx extension function, loaded on the first
	// Connect.
	connectEx uintptr
	// connectWaiters are Connects of sockets whose earlier Connect is in
	// the kernel (backend_iocp_connect_windows.go).
	connectWaiters fifo
	// syncCancels are the operations on synchronous handles that Cancel
	// asked to end (backend_iocp_sync_windows.go); modeScratch is
	// handleIsSynchronous's.
	syncCancels syncCancelSet
	modeScratch modeQuery
}

// Completion keys: which kind of packet the port delivers.
const (
	keyIO     = 1 // an overlapped call on an associated handle finished
	keyWake   = 2 // wakeInKernel: no operation
	keyWorker = 3 // a worker finished the record's operation
)

// overlappedEntry is OVERLAPPED_ENTRY, which x/sys/windows lacks.
type overlappedEntry struct {
	CompletionKey            uintptr
	Overlapped               *windows.Overlapped
	Internal                 uintptr
	NumberOfBytesTransferred uint32
}

var (
	kernel32                      = windows.NewLazySystemDLL("kernel32.dll")
	procGetQueuedCompletionStatus = kernel32.NewProc("GetQueuedCompletionStatusEx")
)

// handleState is what the loop knows of a handle it has used.
type handleState struct {
	kind       handleKind
	associated bool
	// checkedSeq is handleBirths.seq when the loop last made sure that the
	// handle was not created again since it learned it (see
	// handles_windows.go).
	checkedSeq uint64
	// skipOnSuccess: FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is set, so a
	// call that succeeds at once posts no packet and completes inline.
	skipOnSuccess bool
	// appendMode: OpenAt with O_APPEND; every Write goes to the end.
	appendMode bool
	// family is a listening socket's address family (AcceptEx needs a
	// socket of the same family).
	family uint16
	// positionBytes is where a Read or Write at offset -1 ("the current
	// position") of a file happens: overlapped handles have no file
	// pointer the kernel advances.
	positionBytes int64
	// synchronous: opened without FILE_FLAG_OVERLAPPED (or
	// WSA_FLAG_OVERLAPPED), so the port refuses it and its calls block;
	// syncDisk: such a handle of a disk file (backend_iocp_sync_windows.go).
	synchronous bool
	syncDisk    bool
}

type handleKind uint8

const (
	handleUnknown handleKind = iota
	handleSocket
	handleFile
)

// acceptAddressBytes is the room AcceptEx needs for each address: the
// largest sockaddr (sockaddr_in6, 28 bytes) plus 16, as its documentation
// asks.
const acceptAddressBytes = 28 + 16

// iocpOp is the kernel-visible record of one started operation.
type iocpOp struct {
	// ov is first: the port hands back &ov, which is the record's address.
	ov windows.Overlapped
	c  *Completion
	// handle is what the operation runs on (CancelIoEx needs it).
	handle windows.Handle
	// onWorker: a worker runs it; workerRunning: one has started it.
	onWorker bool
	// workerResult is a worker's raw result (count or negated errno).
	workerResult int32
	// bytes and flags are the byte count and flags words of the overlapped
	// calls, which the kernel may write until the packet arrives.
	bytes uint32
	flags uint32
	// accepted is AcceptEx's new socket; acceptBuf receives the addresses.
	accepted  windows.Handle
	acceptBuf [2 * acceptAddressBytes]byte
	// wsabufs is the buffer list of WSARecv and WSASend, reused.
	wsabufs []windows.WSABuf
	one     [1]windows.WSABuf
	// fromBytes is WSARecvFrom's address length, which the kernel writes
	// when the datagram arrives.
	fromBytes int32
	// bufID is the BufferPool buffer a pooled receive took when it started
	// (-1: none; backend_iocp_pool_windows.go); cancelRequested: a Cancel
	// or Close asked for a multishot operation's end while the kernel had
	// it, so its next result is its last.
	bufID           int32
	cancelRequested bool
	// workerOv is the OVERLAPPED of the calls a worker makes and waits
	// for (Readv and Writev of a file, durable writes); offsetBytes is
	// where in the file they start.
	workerOv    windows.Overlapped
	offsetBytes int64
	// event is what a worker waits on for workerOv.
	event windows.Handle
	// paths hold the UTF-16 forms of a worker's path operands
	// (windowsPath), kept for the record's next operation.
	paths [2][]uint16
	// An operation on a synchronous stream handle
	// (backend_iocp_sync_windows.go): syncStream marks it; the worker's
	// call moves syncLen bytes through bounce, on a socket (syncSocket)
	// or not, writing (syncWrite) or reading, waiting for data even with
	// no room (syncWaitEmpty: a zero-byte Recv). Under the workers' mu:
	// thread is the worker's while it runs the call; interrupted, a
	// Cancel or Close asked it to end; abandoned, Close let it go;
	// posted, its result is on the way to the port.
	syncStream, syncSocket, syncWrite, syncWaitEmpty bool
	syncLen                                          int32
	bounce                                           []byte
	thread                                           windows.Handle
	interrupted, abandoned, posted                   bool
	// nextFree links free records; slot is this record's index.
	nextFree int32
	slot     int32
}

// iocpOpsPerChunk is how many records one chunk holds.
const iocpOpsPerChunk = 256

// iocpOps is the pool of records: chunks that are never freed before
// close, so steady state allocates nothing, and that are pinned.
type iocpOps struct {
	chunks [][]iocpOp
	pinner runtime.Pinner
	free   int32 // -1: none
}

func (s *iocpOps) at(slot int32) *iocpOp {
	return &s.chunks[slot/iocpOpsPerChunk][slot%iocpOpsPerChunk]
}

// get returns a free record for c.
func (s *iocpOps) get(c *Completion) *iocpOp {
	if s.free < 0 {
		base := int32(len(s.chunks) * iocpOpsPerChunk)
		chunk := make([]iocpOp, iocpOpsPerChunk)
		s.pinner.Pin(&chunk[0])
		s.chunks = append(s.chunks, chunk)
		for i := iocpOpsPerChunk - 1; i >= 0; i-- {
			chunk[i].slot = base + int32(i)
			chunk[i].nextFree = s.free
			s.free = base + int32(i)
		}
	}
	op := s.at(s.free)
	s.free = op.nextFree
	op.c = c
	op.ov = windows.Overlapped{}
	op.bytes, op.flags, op.onWorker, op.workerResult = 0, 0, false, 0
	op.accepted = windows.InvalidHandle
	op.bufID, op.cancelRequested = -1, false
	op.syncStream, op.interrupted, op.abandoned, op.posted = false, false, false, false
	c.index = op.slot // where Cancel finds it
	return op
}

// put returns a record whose packet was reaped (or that never reached the
// kernel).
func (s *iocpOps) put(op *iocpOp) {
	op.c = nil
	op.one[0] = windows.WSABuf{}
	clear(op.wsabufs)
	op.nextFree = s.free
	s.free = op.slot
}

// holding returns the record of c if c is started and not reaped.
func (s *iocpOps) holding(c *Completion) *iocpOp {
	if c.index < 0 || int(c.index) >= len(s.chunks)*iocpOpsPerChunk {
		return nil
	}
	if op := s.at(c.index); op.c == c {
		return op
	}
	return nil
}

func newIOCPBackend(l *Loop, opts Options) (*iocpBackend, error) {
	entries := int(opts.Entries)
	if entries == 0 {
		entries = DefaultEntries
	}
	workers := opts.FileWorkers
	if workers == 0 {
		workers = DefaultFileWorkers
	}
	if err := procGetQueuedCompletionStatus.Find(); err != nil {
		return nil, &SetupError{Backend: BackendIOCP, Err: errors.ErrUnsupported,
			Reason: "kernel32.dll has no GetQueuedCompletionStatusEx"}
	}
	port, err := windows.CreateIoCompletionPort(windows.InvalidHandle, 0, 0, 1)
	if err != nil {
		return nil, &SetupError{Backend: BackendIOCP, Err: windowsErrno(err),
			Reason: "cannot create the I/O completion port"}
	}
	b := &iocpBackend{kernelClock: newKernelClock(), loop: l, port: port,
		entries: make([]overlappedEntry, entries), handles: make(map[windows.Handle]handleState)}
	b.ops.free = -1
	b.workers.init(workers, port)
	l.setKernelWake(func() { _ = windows.PostQueuedCompletionStatus(port, 0, keyWake, nil) })
	return b, nil
}

// submit accepts c as in flight at once (see readinessBackend.submit): a
// Cancel submitted after it is processed after it starts.
func (b *iocpBackend) submit(c *Completion) {
	c.state = stateInFlight
	b.queued.push(c)
}

func (b *iocpBackend) resubmit(c *Completion) { b.submit(c) }

// unqueue never takes an operation back: submitted operations count as in
// flight (see submit).
func (b *iocpBackend) unqueue(*Completion) bool { return false }

// flush starts the queued operations now rather than at the next poll.
func (b *iocpBackend) flush() { b.startQueued() }

// poll implements backend.poll: start what was submitted, then reap the
// port, waiting up to timeoutNs (rounded up to milliseconds, never early)
// when no callback is ready.
func (b *iocpBackend) poll(timeoutNs int64) error {
	b.startQueued()
	waitMs := uint32(0)
	if timeoutNs != 0 && !b.loop.callbacksReady() {
		switch {
		case timeoutNs < 0:
			waitMs = windows.INFINITE
		case timeoutNs >= int64(windows.INFINITE-1)*1e6:
			waitMs = windows.INFINITE - 1
		default:
			waitMs = uint32((timeoutNs + 999_999) / 1_000_000)
		}
		if !b.loop.announceSleep(loopInKernel, nil) {
			waitMs = 0
		}
	}
	if b.retrySyncCancels() && waitMs > 1 {
		waitMs = 1 // until the canceled calls' results come
	}
	if waitMs == 0 && b.outstanding == 0 {
		b.loop.awake()
		return nil // nothing can have arrived that the loop needs
	}
	for {
		b.kernelEnters++
		var removed uint32
		r, _, e := syscall.SyscallN(procGetQueuedCompletionStatus.Addr(), uintptr(b.port),
			uintptr(unsafe.Pointer(&b.entries[0])), uintptr(len(b.entries)),
			uintptr(unsafe.Pointer(&removed)), uintptr(waitMs), 0)
		if waitMs != 0 {
			b.loop.awake()
			waitMs = 0
		}
		if r == 0 {
			if e == syscall.Errno(windows.WAIT_TIMEOUT) {
				return nil
			}
			return windowsErrno(e)
		}
		for i := range b.entries[:removed] {
			b.reap(&b.entries[i])
		}
		if int(removed) < len(b.entries) {
			return nil
		}
	}
}

// startQueued starts every operation queued so far; what starting them
// queues (nothing today) waits for the next call.
func (b *iocpBackend) startQueued() {
	b.queuedSeen.observe(b.queued.size)
	queued := b.queued.takeAll()
	for c := queued.pop(); c != nil; c = queued.pop() {
		b.start(c)
	}
}

func (b *iocpBackend) start(c *Completion) {
	l := b.loop
	switch c.op {
	case opNop:
		l.completeWith(c, 0, codeNone)
	case opAccept, opAcceptMultishot:
		b.startAccept(c)
	case opRecvPooled, opRecvMultishot, opRecvFromMultishot:
		b.startPooled(c)
	case opConnect:
		b.startConnect(c)
	case opRecv, opSend, opReadv, opWritev:
		b.startStream(c)
	case opSendTo, opRecvFrom, opSendMsg, opRecvMsg:
		b.startDatagram(c)
	case opRead, opWrite:
		b.startReadWrite(c)
	case opShutdown:
		b.startShutdown(c)
	case opClose:
		b.startClose(c)
	case opCancel:
		b.cancel(c)
	case opFsync:
		// The handle's recorded kind, learned once, not isSocket each
		// time: that getsockopt's result word escapes, an allocation per
		// Fsync.
		if c.fd >= 0 && b.learn(windows.Handle(c.fd)).kind == handleSocket {
			l.complete(c, -int32(syscall.EINVAL)) // fsync(2) of a socket
			return
		}
		b.toWorkers(c)
	case opOpenAt, opFtruncate, opUnlinkat, opMkdirat, opRenameat, opFallocate, opLinkat, opSymlinkat:
		b.toWorkers(c)
	case opFadvise:
		l.complete(c, -int32(fadviseErrno(windows.Handle(c.fd), c.flags)))
	default:
		// Datagrams, Statx and SyncFileRange (Linux-only calls, absent
		// from a Windows build) and the rest have no IOCP implementation.
		l.complete(c, -int32(syscall.EOPNOTSUPP))
	}
}

// state returns what the loop knows of h, learning its kind on first use.
func (b *iocpBackend) state(h windows.Handle) handleState {
	st, ok := b.handles[h]
	if ok && st.checkedSeq != handleBirths.seq.Load() {
		// Handles were born since: is this one of them? One lookup, then
		// the record is current again.
		born, now := handleBorn(h)
		if born > st.checkedSeq {
			st, ok = handleState{}, false // a new handle with an old value
		} else {
			st.checkedSeq = now
			b.handles[h] = st
		}
	}
	if !ok || st.kind == handleUnknown {
		_, st.checkedSeq = handleBorn(h)
		st.kind = handleFile
		if isSocket(h) {
			st.kind = handleSocket
		}
		st.synchronous, st.syncDisk = handleIsSynchronous(h, &b.modeScratch)
	}
	return st
}

// learn returns h's state and records it, so that its kind is looked up
// once per handle, not once per operation.
func (b *iocpBackend) learn(h windows.Handle) handleState {
	st := b.state(h)
	b.handles[h] = st
	return st
}

// associate makes sure h delivers its completions to the loop's port; it
// returns the errno to fail the operation with.
func (b *iocpBackend) associate(h windows.Handle, st *handleState) syscall.Errno {
	if st.associated {
		return 0
	}
	if _, err := windows.CreateIoCompletionPort(h, b.port, keyIO, 0); err != nil {
		// ERROR_INVALID_PARAMETER: another port has the handle (or it is
		// not overlapped); ERROR_INVALID_HANDLE: no such handle.
		return windowsErrno(err)
	}
	st.associated = true
	// A call that succeeds at once then completes inline instead of
	// through a packet: one GetQueuedCompletionStatusEx round less per
	// operation that finds its data there (a Recv of bytes already
	// received, a cached file Read), and such an operation completes in
	// submission order with its neighbours, as on the other backends.
	// Go's net package sets the same mode; it is unsafe only with a non-IFS
	// Winsock provider (a layered service provider that is no file
	// system handle), which loopback tests cannot meet.
	st.skipOnSuccess = iocpSkipOnSuccess && windows.SetFileCompletionNotificationModes(h,
		windows.FILE_SKIP_COMPLETION_PORT_ON_SUCCESS|windows.FILE_SKIP_SET_EVENT_ON_HANDLE) == nil
	b.handles[h] = *st
	return 0
}

// prepared returns h's state, associated with the port, and true; or
// false once it has dealt with c itself: failed it, or, for a handle
// opened for synchronous I/O, which the port refuses, started it on a
// worker (startSynchronous) or failed it with EINVAL. The callers
// (every operation that needs the port) stop at false.
func (b *iocpBackend) prepared(c *Completion, h windows.Handle) (handleState, bool) {
	if c.fd < 0 {
		// -1 is INVALID_HANDLE_VALUE (and the current process's pseudo
		// handle), which Windows would answer with EINVAL: a negative fd
		// is EBADF on every backend.
		b.loop.complete(c, -int32(syscall.EBADF))
		return handleState{}, false
	}
	st := b.state(h)
	if st.synchronous {
		// The port refuses it; what can run without it runs on a worker.
		b.handles[h] = st
		switch c.op {
		case opRead, opWrite, opReadv, opWritev, opRecv, opSend:
			b.startSynchronous(c, h, &st)
		default:
			b.loop.complete(c, -int32(syscall.EINVAL))
		}
		return st, false
	}
	if errno := b.associate(h, &st); errno != 0 {
		b.loop.complete(c, -int32(errno))
		return st, false
	}
	return st, true
}

// issued finishes the start of an overlapped call on a handle in state
// st: pending, its packet will come; done at once, it completes now if
// the handle skips the packet (skipOnSuccess), else its packet will come;
// any other error completes c now.
func (b *iocpBackend) issued(op *iocpOp, err error, st *handleState) {
	if err == nil && st.skipOnSuccess {
		b.finish(op, b.kernelResult(op, uint32(op.ov.InternalHigh)))
		return
	}
	if err == nil || err == windows.ERROR_IO_PENDING {
		b.outstanding++
		return
	}
	if op.accepted != windows.InvalidHandle {
		_ = windows.Closesocket(op.accepted) // the socket AcceptEx would have filled
	}
	b.finish(op, windowsResult(err))
}

// finish releases the record of an operation the kernel is done with and
// reports its raw result: the one place a started overlapped call ends.
func (b *iocpBackend) finish(op *iocpOp, res int32) {
	c := op.c
	if pooledOps[c.op] || c.op == opAcceptMultishot {
		b.finishPooled(op, res)
		return
	}
	b.ops.put(op)
	connectOf := windows.Handle(c.fd)
	released := c.op == opConnect && !b.connectWaiters.empty()
	b.loop.complete(c, fileWriteResult(c, res))
	if released {
		b.releaseConnectWaiters(connectOf, res)
	}
}

// fileWriteResult makes a write to a handle opened without write access,
// or a read from one opened without read access, fail with EBADF, as
// write(2) to a read-only descriptor does: Windows says
// ERROR_ACCESS_DENIED (EACCES).
// A read of a directory handle fails with ERROR_INVALID_FUNCTION, which
// is read(2)'s EISDIR.
func fileWriteResult(c *Completion, res int32) int32 {
	read := c.op == opRead || c.op == opReadv
	switch {
	case res < 0 && plainErrno(syscall.Errno(-res)) == syscall.EACCES && (read || c.op == opWrite || c.op == opWritev):
		return -int32(syscall.EBADF)
	case res == -int32(errorInvalidFunction) && read:
		return -int32(syscall.EISDIR)
	}
	return res
}

func (b *iocpBackend) startAccept(c *Completion) {
	listener := windows.Handle(c.fd)
	st, ok := b.prepared(c, listener)
	if !ok {
		return
	}
	if st.kind != handleSocket {
		b.loop.complete(c, -int32(syscall.ENOTSOCK))
		return
	}
	if st.family == 0 {
		sa, err := windows.Getsockname(listener)
		if err != nil {
			b.loop.complete(c, windowsResult(err))
			return
		}
		st.family = windows.AF_INET
		if _, v6 := sa.(*windows.SockaddrInet6); v6 {
			st.family = windows.AF_INET6
		}
		b.handles[listener] = st
	}
	s, err := newSocket(int(st.family), windows.SOCK_STREAM, windows.IPPROTO_TCP)
	if err != nil {
		b.loop.complete(c, windowsResult(err))
		return
	}
	op := b.ops.get(c)
	op.handle, op.accepted = listener, windows.Handle(s)
	err = windows.AcceptEx(listener, op.accepted, &op.acceptBuf[0], 0, acceptAddressBytes, acceptAddressBytes, &op.bytes, &op.ov)
	b.issued(op, err, &st)
}

func (b *iocpBackend) startConnect(c *Completion) {
	s := windows.Handle(c.fd)
	st, ok := b.prepared(c, s)
	if !ok {
		return
	}
	if st.kind != handleSocket {
		b.loop.complete(c, -int32(syscall.ENOTSOCK))
		return
	}
	if errno := b.loadConnectEx(s); errno != 0 {
		b.loop.complete(c, -int32(errno))
		return
	}
	// ConnectEx wants a bound socket: bind to the wildcard of the
	// destination's family, unless a bind happened already (EINVAL).
	var any windows.RawSockaddrAny
	any.Addr.Family = c.rare.sockaddr.Addr.Family
	size := uint32(unsafe.Sizeof(windows.RawSockaddrInet4{}))
	if any.Addr.Family == windows.AF_INET6 {
		size = uint32(unsafe.Sizeof(windows.RawSockaddrInet6{}))
	}
	if r, _, e := syscall.SyscallN(procBind.Addr(), uintptr(s), uintptr(unsafe.Pointer(&any)), uintptr(size)); int32(r) != 0 {
		if errno := errnoFromWindows(e); errno != syscall.EINVAL {
			b.loop.complete(c, -int32(errno))
			return
		}
	}
	op := b.ops.get(c)
	op.handle = s
	r, _, e := syscall.SyscallN(b.connectEx, uintptr(s), uintptr(unsafe.Pointer(&c.rare.sockaddr)),
		uintptr(c.rare.sockaddrLen), 0, 0, 0, uintptr(unsafe.Pointer(&op.ov)))
	var err error
	if r == 0 {
		if e == errorIOPending {
			err = windows.ERROR_IO_PENDING // a constant: no allocation, as e's boxing would be
		} else {
			err = e
		}
	}
	switch err {
	case wsaEISCONN, wsaEALREADY, wsaEINVAL:
		if b.waitForConnect(op) {
			return // another Connect of s is under way
		}
	}
	b.issued(op, err, &st)
}

// loadConnectEx finds the ConnectEx extension function through a socket.
func (b *iocpBackend) loadConnectEx(s windows.Handle) syscall.Errno {
	if b.connectEx != 0 {
		return 0
	}
	var n uint32
	err := windows.WSAIoctl(s, windows.SIO_GET_EXTENSION_FUNCTION_POINTER,
		(*byte)(unsafe.Pointer(&windows.WSAID_CONNECTEX)), uint32(unsafe.Sizeof(windows.WSAID_CONNECTEX)),
		(*byte)(unsafe.Pointer(&b.connectEx)), uint32(unsafe.Sizeof(b.connectEx)), &n, nil, 0)
	if err != nil {
		return windowsErrno(err)
	}
	return 0
}

// startStream starts a Recv, Send, Readv or Writev on a socket (Readv
// and Writev of a file are not supported: EOPNOTSUPP).
func (b *iocpBackend) startStream(c *Completion) {
	s := windows.Handle(c.fd)
	st, ok := b.prepared(c, s)
	if !ok {
		return
	}
	if (c.op == opReadv || c.op == opWritev) && len(c.rare.bufs) > iocpIOVMax {
		b.loop.complete(c, -int32(syscall.EINVAL))
		return
	}
	switch {
	case st.kind == handleSocket && (c.op == opReadv || c.op == opWritev) && c.io.offset > 0:
		b.loop.complete(c, -int32(syscall.ESPIPE)) // as Read and Write (startReadWrite)
	case st.kind == handleSocket:
		b.startSocketIO(c, s, &st)
	case c.op == opReadv || c.op == opWritev:
		b.fileToWorkers(c, &st)
	default:
		b.loop.complete(c, -int32(syscall.ENOTSOCK))
	}
}

// startSocketIO issues WSARecv or WSASend for c on the socket s.
func (b *iocpBackend) startSocketIO(c *Completion, s windows.Handle, st *handleState) {
	op := b.ops.get(c)
	op.handle = s
	bufs := op.one[:]
	switch c.op {
	case opSend:
		rest := c.io.buf[c.sent():]
		bufs[0] = wsaBuf(rest[:min(len(rest), maxIOLen)])
	case opRecv, opRead, opWrite:
		bufs[0] = wsaBuf(c.io.buf[:min(len(c.io.buf), maxIOLen)])
	default: // Readv, Writev
		if cap(op.wsabufs) < len(c.rare.bufs) {
			op.wsabufs = make([]windows.WSABuf, len(c.rare.bufs))
		}
		bufs = op.wsabufs[:len(c.rare.bufs)]
		for i, buf := range c.rare.bufs {
			bufs[i] = wsaBuf(buf)
		}
		if len(bufs) == 0 {
			bufs = op.one[:] // WSARecv wants at least one, possibly empty
		}
	}
	var err error
	if c.op == opSend || c.op == opWrite || c.op == opWritev {
		err = windows.WSASend(s, &bufs[0], uint32(len(bufs)), &op.bytes, 0, &op.ov, nil)
	} else {
		err = windows.WSARecv(s, &bufs[0], uint32(len(bufs)), &op.bytes, &op.flags, &op.ov, nil)
	}
	b.issued(op, err, st)
}

// startDatagram starts SendTo or SendMsg (WSASendTo) and RecvFrom or
// RecvMsg (WSARecvFrom) over the iovecs and sockaddr the portable code put
// in the Completion's msghdr. Control data is not carried on IOCP (that
// needs WSASendMsg and WSARecvMsg, loaded through WSAIoctl): a non-empty
// oob fails with EOPNOTSUPP, as on the simulator.
func (b *iocpBackend) startDatagram(c *Completion) {
	s := windows.Handle(c.fd)
	st, ok := b.prepared(c, s)
	if !ok {
		return
	}
	if st.kind != handleSocket {
		b.loop.complete(c, -int32(syscall.ENOTSOCK))
		return
	}
	rare := c.rare
	if len(rare.oob) > 0 {
		b.loop.complete(c, -int32(syscall.EOPNOTSUPP))
		return
	}
	op := b.ops.get(c)
	op.handle = s
	if cap(op.wsabufs) < max(len(rare.iovecs), 1) {
		op.wsabufs = make([]windows.WSABuf, max(len(rare.iovecs), 1))
	}
	bufs := op.wsabufs[:max(len(rare.iovecs), 1)]
	for i, v := range rare.iovecs {
		bufs[i] = windows.WSABuf{Len: uint32(v.Len), Buf: v.Base}
	}
	var err error
	if c.op == opSendTo || c.op == opSendMsg {
		var to *windows.RawSockaddrAny
		if rare.msg.Name != nil {
			to = &rare.sockaddr
		}
		err = windows.WSASendTo(s, &bufs[0], uint32(len(bufs)), &op.bytes, 0, to, int32(rare.msg.Namelen), &op.ov, nil)
		if to == nil && (err == wsaEINVAL || err == wsaENOTCONN) {
			// No destination, and the socket is not connected: sendto(2)'s
			// EDESTADDRREQ (wine 8.0 says WSAEINVAL).
			err = syscall.EDESTADDRREQ
		}
	} else {
		op.fromBytes = int32(unsafe.Sizeof(rare.sockaddr))
		err = windows.WSARecvFrom(s, &bufs[0], uint32(len(bufs)), &op.bytes, &op.flags, &rare.sockaddr, &op.fromBytes, &op.ov, nil)
		if err == syscall.Errno(wsaEMSGSIZE) {
			// A datagram longer than the buffers, there at once: they hold
			// its start and the call has finished; no packet follows
			// (wine posts none, and Go's net package, which also skips
			// the port on success, waits for none).
			total := 0
			for _, v := range rare.iovecs {
				total += int(v.Len)
			}
			rare.msg.Flags, rare.msg.Controllen, rare.msg.Namelen = sysMSG_TRUNC, 0, uint32(op.fromBytes)
			b.finish(op, int32(total))
			return
		}
	}
	b.issued(op, err, &st)
}

func wsaBuf(buf []byte) windows.WSABuf {
	return windows.WSABuf{Len: uint32(len(buf)), Buf: unsafe.SliceData(buf)}
}

// startReadWrite starts a Read or Write: a socket's is a Recv or Send
// (its offset must be 0 or -1, as on the other backends), a file's is
// ReadFile or WriteFile at the offset, which the OVERLAPPED carries; at
// -1 the loop's own position for the handle, advanced as operations
// complete.
func (b *iocpBackend) startReadWrite(c *Completion) {
	h := windows.Handle(c.fd)
	st, ok := b.prepared(c, h)
	if !ok {
		return
	}
	if st.kind == handleSocket {
		if c.io.offset > 0 {
			b.loop.complete(c, -int32(syscall.ESPIPE))
			return
		}
		if c.op == opRead && len(c.io.buf) == 0 {
			// read(2) of nothing from a socket returns 0 at once; a
			// zero-byte WSARecv would wait for data (as a zero-length Recv
			// does everywhere).
			b.loop.complete(c, 0)
			return
		}
		b.startSocketIO(c, h, &st)
		return
	}
	if c.op == opWrite && c.flags != 0 {
		b.fileToWorkers(c, &st) // WriteDurable: the write, then FlushFileBuffers
		return
	}
	op := b.ops.get(c)
	op.handle = h
	offset := fileOffset(c, &st)
	op.ov.Offset, op.ov.OffsetHigh = uint32(offset), uint32(uint64(offset)>>32)
	buf := c.io.buf[:min(len(c.io.buf), maxIOLen)]
	var err error
	if c.op == opRead {
		err = windows.ReadFile(h, buf, &op.bytes, &op.ov)
		if err == windows.ERROR_HANDLE_EOF {
			// Past the end: some file systems say so at once, and then
			// post no packet.
			b.ops.put(op)
			b.loop.complete(c, 0)
			return
		}
	} else {
		err = windows.WriteFile(h, buf, &op.bytes, &op.ov)
	}
	b.issued(op, err, &st)
}

func (b *iocpBackend) startShutdown(c *Completion) {
	switch c.flags {
	case sysSHUT_RD, sysSHUT_WR, sysSHUT_RDWR: // SD_RECEIVE, SD_SEND, SD_BOTH
	default:
		b.loop.complete(c, -int32(syscall.EINVAL))
		return
	}
	if h := windows.Handle(c.fd); !isSocket(h) {
		b.loop.complete(c, -int32(notSocketErrno(h)))
		return
	}
	err := windows.Shutdown(windows.Handle(c.fd), int(c.flags))
	b.loop.complete(c, windowsResult(err))
}

// startClose closes a socket (closesocket) or another handle
// (CloseHandle), inline: neither blocks. Operations still pending on it
// end with ERROR_OPERATION_ABORTED, reported as ErrCanceled, when their
// packets arrive, which may be after Close's own callback.
func (b *iocpBackend) startClose(c *Completion) {
	h := windows.Handle(c.fd)
	st := b.state(h)
	delete(b.handles, h)
	var err error
	if st.kind == handleSocket {
		err = windows.Closesocket(h)
	} else {
		err = windows.CloseHandle(h)
	}
	if err != nil {
		b.loop.complete(c, windowsResult(err))
		return
	}
	b.loop.complete(c, 0)
}

// toWorkers hands an operation without an overlapped form to the workers.
func (b *iocpBackend) toWorkers(c *Completion) {
	op := b.ops.get(c)
	op.onWorker = true
	b.outstanding++
	b.workers.submit(op)
}

// fileToWorkers hands a file's Readv, Writev or durable Write to the
// workers, which make one overlapped call per buffer and wait for each;
// where it starts is decided now, on the loop's goroutine, which owns the
// handle's position.
func (b *iocpBackend) fileToWorkers(c *Completion, st *handleState) {
	op := b.ops.get(c)
	op.onWorker = true
	op.handle = windows.Handle(c.fd)
	op.offsetBytes = fileOffset(c, st)
	b.outstanding++
	b.workers.submit(op)
}

// fileOffset is where a Read, Write, Readv or Writev of a file happens:
// its offset, the handle's position for -1, the end of the file (the
// OVERLAPPED's offset 0xFFFFFFFF_FFFFFFFF) for a write to a file opened
// with O_APPEND.
func fileOffset(c *Completion, st *handleState) int64 {
	switch {
	case (c.op == opWrite || c.op == opWritev) && st.appendMode:
		return -1
	case c.io.offset < 0:
		return st.positionBytes
	}
	return c.io.offset
}

// advancePosition moves the handle's position past n bytes that a Read,
// Write, Readv or Writev at offset -1 moved.
func (b *iocpBackend) advancePosition(c *Completion, h windows.Handle, n int32) {
	if n <= 0 || c.io.offset >= 0 {
		return
	}
	switch c.op {
	case opRead, opWrite, opReadv, opWritev:
	default:
		return
	}
	if st, ok := b.handles[h]; ok && st.kind == handleFile && !st.appendMode {
		st.positionBytes += int64(n)
		b.handles[h] = st
	}
}

// reap completes the operation of one completion packet.
func (b *iocpBackend) reap(e *overlappedEntry) {
	if e.CompletionKey == keyWake || e.Overlapped == nil {
		return
	}
	op := (*iocpOp)(unsafe.Pointer(e.Overlapped))
	c := op.c
	b.outstanding--
	var res int32
	if op.syncStream {
		b.finishSynchronous(op)
		return
	}
	if op.onWorker {
		res = fileWriteResult(c, op.workerResult)
		b.advancePosition(c, op.handle, res)
		if c.op == opOpenAt && res >= 0 {
			_, now := handleBorn(windows.Handle(res))
			st := handleState{kind: handleFile, appendMode: c.flags&sysO_APPEND != 0, checkedSeq: now}
			b.handles[windows.Handle(res)] = st
		}
		b.ops.put(op)
		b.loop.complete(c, res)
		return
	}
	b.finish(op, b.kernelResult(op, e.NumberOfBytesTransferred))
}

// kernelResult turns an overlapped call's outcome into a raw result, and
// finishes what the call leaves to do (the accepted socket's context, the
// file position).
func (b *iocpBackend) kernelResult(op *iocpOp, n uint32) int32 {
	c := op.c
	status := windows.NTStatus(op.ov.Internal)
	var errno, code syscall.Errno
	if status != windows.STATUS_SUCCESS {
		code = status.Errno()
		errno = errnoFromWindows(code)
	}
	switch c.op {
	case opAccept, opAcceptMultishot:
		if errno == 0 {
			listener := op.handle
			errno = windowsErrno(windows.Setsockopt(op.accepted, windows.SOL_SOCKET, windows.SO_UPDATE_ACCEPT_CONTEXT,
				(*byte)(unsafe.Pointer(&listener)), int32(unsafe.Sizeof(listener))))
		}
		if errno != 0 {
			_ = windows.Closesocket(op.accepted)
			return -int32(withWindowsCode(errno, code))
		}
		_, now := handleBorn(op.accepted)
		b.handles[op.accepted] = handleState{kind: handleSocket, checkedSeq: now}
		return int32(op.accepted)
	case opConnect:
		if errno == 0 {
			errno = windowsErrno(windows.Setsockopt(op.handle, windows.SOL_SOCKET, windows.SO_UPDATE_CONNECT_CONTEXT, nil, 0))
		}
		return -int32(withWindowsCode(errno, code))
	case opRead, opRecv, opReadv, opRecvPooled, opRecvMultishot:
		if errno == syscall.Errno(errorHandleEOF) || errno == syscall.EPIPE && c.op == opRead {
			return 0 // end of file, or a pipe whose writer is gone
		}
	case opRecvFrom, opRecvMsg, opRecvFromMultishot:
		msg := &c.rare.msg
		msg.Flags, msg.Controllen = 0, 0
		if errno == errorMoreData || errno == syscall.EMSGSIZE {
			// STATUS_BUFFER_OVERFLOW: the datagram was longer than the
			// buffers, which hold its start; the rest is lost.
			msg.Flags, errno = sysMSG_TRUNC, 0
		}
		if errno == 0 {
			msg.Namelen = uint32(op.fromBytes)
		}
	}
	if errno != 0 {
		if c.op == opSend && n > 0 {
			// Canceled or failed after part of the buffer went: the
			// error comes with the bytes sent, as on every backend.
			c.setSent(c.sent() + int(n))
		}
		return -int32(withWindowsCode(errno, code)) // keeps the code, if errno is the status's
	}
	b.advancePosition(c, op.handle, int32(n))
	return int32(n)
}

// cancel resolves a Cancel whose target was in flight when it was
// submitted: one not started yet is removed and canceled here; one in the
// kernel is canceled with CancelIoEx and ends with ErrCanceled when its
// packet arrives; one a worker runs cannot be stopped (EALREADY).
func (b *iocpBackend) cancel(c *Completion) {
	l := b.loop
	t := c.cancelTarget()
	if canceledInThisPass(l, t) {
		l.complete(c, 0)
		return
	}
	if t.state != stateInFlight || t.loop != l {
		l.complete(c, -int32(syscall.ENOENT))
		return
	}
	code := b.abandon(t)
	if code == codeNotFound {
		l.complete(c, -int32(syscall.ENOENT))
		return
	}
	l.complete(c, -int32(code))
}

// abandon implements backend.abandon: codeNone when t was removed (and
// completed) or its cancellation is under way in the kernel, EALREADY when
// a worker runs it, codeNotFound when the backend does not hold it.
func (b *iocpBackend) abandon(t *Completion) errorCode {
	if b.queued.remove(t) {
		b.loop.completeWith(t, t.progress(), codeCanceled)
		return codeNone
	}
	if t.op == opConnect && b.connectWaiters.remove(t) {
		b.loop.completeWith(t, 0, codeCanceled)
		return codeNone
	}
	op := b.ops.holding(t)
	if op == nil {
		return codeNotFound
	}
	if op.onWorker {
		if b.workers.cancel(op) {
			b.outstanding--
			b.ops.put(op)
			b.loop.completeWith(t, t.progress(), codeCanceled)
			return codeNone
		}
		if op.syncStream {
			b.cancelSynchronous(op) // it ends with ErrCanceled, or with its bytes if they came first
			return codeNone
		}
		return errorCode(syscall.EALREADY)
	}
	if op.cancelRequested {
		return codeNone // an earlier Cancel's CancelIoEx is under way
	}
	err := windows.CancelIoEx(op.handle, &op.ov)
	if t.op == opRecvMultishot || t.op == opRecvFromMultishot || t.op == opAcceptMultishot {
		// Aborted or not, its next packet is its last: a multishot
		// operation the kernel finished a shot of is not armed again.
		op.cancelRequested = true
		return codeNone
	}
	if err != nil {
		return codeNotFound // ERROR_NOT_FOUND: it has finished; its packet is on the way
	}
	op.cancelRequested = true // a second Cancel before the packet: the same answer
	return codeNone
}

// canceledInThisPass reports whether t has been canceled since a Cancel
// found it in flight, its callback not run yet (see the readiness
// backend's, which the simulator shares).
func canceledInThisPass(l *Loop, t *Completion) bool {
	return t.loop == l && t.state == stateCompleted && t.errCode == codeCanceled
}

// cancelAll cancels what has not started and asks the kernel to cancel
// what has; Close then reaps until every packet has arrived, and workers
// finish what they started.
func (b *iocpBackend) cancelAll() {
	l := b.loop
	for c := b.queued.pop(); c != nil; c = b.queued.pop() {
		l.completeWith(c, c.progress(), codeCanceled)
	}
	for c := b.connectWaiters.pop(); c != nil; c = b.connectWaiters.pop() {
		l.completeWith(c, 0, codeCanceled)
	}
	for _, op := range b.workers.cancelQueued() {
		c := op.c
		b.outstanding--
		b.ops.put(op)
		l.completeWith(c, 0, codeCanceled)
	}
	for i := range b.ops.chunks {
		for j := range b.ops.chunks[i] {
			op := &b.ops.chunks[i][j]
			switch {
			case op.c == nil:
			case op.syncStream:
				// Close does not wait for a pipe's or socket's peer: the
				// record is never reused (its worker may still be in
				// the call), and the bytes were never the caller's.
				if b.workers.abandon(op) {
					c := op.c
					op.c = nil
					b.outstanding--
					b.syncCancels.remove(op)
					l.completeWith(c, c.progress(), codeCanceled)
				}
			case !op.onWorker:
				op.cancelRequested = true
				_ = windows.CancelIoEx(op.handle, &op.ov)
			}
		}
	}
}

// backendStats implements statsBackend.
func (b *iocpBackend) backendStats() backendStats {
	return b.queuedSeen.stats(b.kernelEnters, b.queued.size)
}

func (b *iocpBackend) close() error {
	b.workers.stop()
	for i := range b.ops.chunks {
		for j := range b.ops.chunks[i] {
			if ev := b.ops.chunks[i][j].event; ev != 0 {
				_ = windows.CloseHandle(ev)
			}
		}
	}
	err := windows.CloseHandle(b.port)
	b.ops.pinner.Unpin()
	b.ops.chunks = nil
	return windowsErrnoOrNil(err)
}

// iocpSkipOnSuccess: handles get FILE_SKIP_COMPLETION_PORT_ON_SUCCESS
// (see associate). A variable so that BenchmarkIOCPSkipOnSuccess can
// compare both ways; set before a loop is created.
var iocpSkipOnSuccess = true

// iocpIOVMax is Unix's IOV_MAX, the most buffers one Readv or Writev takes on
// every other backend (their kernels refuse more with EINVAL). WSASend and
// the workers' file calls would take more; the limit is kept so that the
// API is the same everywhere.
const iocpIOVMax = 1024

// maxIOLen caps one kernel read or write, as on the other backends (the
// results are 32-bit); Send continues with the rest.
const maxIOLen = 1<<31 - 4096
