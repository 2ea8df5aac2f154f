package ioloop

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Synchronous handles on IOCP.
//
// A handle opened without FILE_FLAG_OVERLAPPED (a pipe from CreatePipe,
// the console, os.Open's files, a socket from WSASocket without
// WSA_FLAG_OVERLAPPED) cannot be associated with a completion port, and
// every call on it blocks the calling thread until it is done: Windows'
// counterpart of a Unix descriptor with O_NONBLOCK clear. The loop learns
// this once per handle (FILE_SYNCHRONOUS_IO_* in the handle's mode,
// handleIsSynchronous) and never makes such a call on its own goroutine:
//
//   - Read, Write, Readv and Writev of a disk file run on the workers
//     with the file's other worker operations (fileIO), into the caller's
//     buffers, and are waited for like them.
//   - Read, Write, Readv, Writev, Recv and Send of anything else (a pipe,
//     a character device, a socket) may wait without end, for the peer.
//     They run on a worker too, through a buffer of the record's
//     (iocpOp.bounce, at most syncBounceBytes, so a Read returns at most
//     that many bytes and a Send continues in steps of it), never the
//     caller's: the bytes are copied on the loop's goroutine when the
//     worker's result is reaped. So the loop can let go of such an
//     operation while the worker's call is still in the kernel, and the
//     caller's buffer is never written after its callback.
//   - Cancel of one asks Windows to end the worker's call
//     (CancelSynchronousIo on the worker's thread) and waits for its
//     result: ErrCanceled, or the bytes if they came first, so none are
//     lost. A worker between taking the operation and entering the kernel
//     is not found by that call, so the loop repeats it every millisecond
//     until the result comes (retrySyncCancels).
//   - Close does not wait for them: each gets ErrCanceled at once, as on
//     the readiness backends; its worker is asked to stop, and one that
//     cannot be stopped stays in its call until the peer ends it, then
//     exits without touching the caller's memory or the closed port
//     (iocpWorkers.stop).
//   - Accept, Connect, pooled and multishot receives and the datagram
//     operations need an overlapped socket: on a synchronous one they fail
//     with EINVAL (the port refuses the handle, ERROR_INVALID_PARAMETER).
//
// Each waiting operation holds one of the Options.FileWorkers workers
// until it ends.

// syncBounceBytes caps one worker call on a synchronous stream handle:
// the size of the record's buffer (iocpOp.bounce).
const syncBounceBytes = 64 << 10

var (
	ntdll                      = windows.NewLazySystemDLL("ntdll.dll")
	procNtQueryInformationFile = ntdll.NewProc("NtQueryInformationFile")
	procCancelSynchronousIo    = kernel32.NewProc("CancelSynchronousIo")
)

// fileModeInformation is FILE_INFORMATION_CLASS's FileModeInformation.
const fileModeInformation = 16

// handleIsSynchronous reports whether h was opened for synchronous I/O
// (FILE_SYNCHRONOUS_IO_ALERT or _NONALERT in its mode), and if so whether
// it is a disk file (GetFileType). A handle whose mode cannot be read
// (not a file object) counts as overlapped: the port then decides.
// scratch is the loop's, so that the words the call writes do not escape
// to the heap on each new handle.
func handleIsSynchronous(h windows.Handle, scratch *modeQuery) (synchronous, disk bool) {
	status, _, _ := syscall.SyscallN(procNtQueryInformationFile.Addr(), uintptr(h),
		uintptr(unsafe.Pointer(&scratch.iosb)), uintptr(unsafe.Pointer(&scratch.mode)), unsafe.Sizeof(scratch.mode), fileModeInformation)
	if mode := scratch.mode; status != 0 || mode&(windows.FILE_SYNCHRONOUS_IO_ALERT|windows.FILE_SYNCHRONOUS_IO_NONALERT) == 0 {
		return false, false
	}
	kind, _ := windows.GetFileType(h)
	return true, kind == windows.FILE_TYPE_DISK
}

// modeQuery is what NtQueryInformationFile writes for handleIsSynchronous.
type modeQuery struct {
	iosb windows.IO_STATUS_BLOCK
	mode uint32
}

// startSynchronous starts c, a Read, Write, Readv, Writev, Recv or Send
// on the synchronous handle h, on the workers (see above).
func (b *iocpBackend) startSynchronous(c *Completion, h windows.Handle, st *handleState) {
	if (c.op == opReadv || c.op == opWritev) && len(c.rare.bufs) > iocpIOVMax {
		b.loop.complete(c, -int32(syscall.EINVAL))
		return
	}
	if (c.op == opRecv || c.op == opSend) && st.kind != handleSocket {
		b.loop.complete(c, -int32(syscall.ENOTSOCK))
		return
	}
	if !st.syncDisk && c.io.offset > 0 && c.op != opRecv && c.op != opSend {
		b.loop.complete(c, -int32(syscall.ESPIPE)) // a pipe or socket has no position, as pread(2) says
		return
	}
	if st.syncDisk {
		b.fileToWorkers(c, st)
		return
	}
	op := b.ops.get(c)
	op.syncStream = true
	if cap(op.bounce) < syncBounceBytes {
		op.bounce = make([]byte, syncBounceBytes) // once per record
	}
	n := 0
	switch c.op {
	case opWrite:
		n = copy(op.bounce, c.io.buf)
	case opSend:
		n = copy(op.bounce, c.io.buf[c.sent():])
	case opWritev:
		for _, buf := range c.rare.bufs {
			n += copy(op.bounce[n:], buf)
		}
	case opRead, opRecv:
		n = min(len(c.io.buf), syncBounceBytes)
	case opReadv:
		for _, buf := range c.rare.bufs {
			n += len(buf)
		}
		n = min(n, syncBounceBytes)
	}
	op.syncLen = int32(n)
	op.syncSocket = st.kind == handleSocket
	op.syncWrite = c.op == opWrite || c.op == opWritev || c.op == opSend
	op.syncWaitEmpty = c.op == opRecv // a zero-byte Recv waits for data, as everywhere
	op.handle = h
	op.onWorker = true
	b.outstanding++
	b.workers.submit(op)
}

// syncStreamIO is a worker's blocking call for startSynchronous: WSARecv
// or WSASend on a socket (Winsock's errors), ReadFile or WriteFile on
// anything else, on the record's buffer. It returns the raw result. It
// reads only the record: the Completion is the loop's, which Close may
// have completed already.
func syncStreamIO(op *iocpOp) int32 {
	buf := op.bounce[:op.syncLen]
	socket, write := op.syncSocket, op.syncWrite
	if len(buf) == 0 && !op.syncWaitEmpty {
		return 0 // read(2) and write(2) of nothing
	}
	var n uint32
	var err error
	switch {
	case socket:
		wsa := windows.WSABuf{Len: uint32(len(buf))}
		if len(buf) > 0 {
			wsa.Buf = &buf[0]
		}
		if write {
			err = windows.WSASend(op.handle, &wsa, 1, &n, 0, nil, nil)
		} else {
			var flags uint32
			err = windows.WSARecv(op.handle, &wsa, 1, &n, &flags, nil, nil)
		}
	case write:
		err = windows.WriteFile(op.handle, buf, &n, nil)
	default:
		err = windows.ReadFile(op.handle, buf, &n, nil)
	}
	if err == nil {
		return int32(n)
	}
	if !write && (err == windows.ERROR_BROKEN_PIPE || err == windows.ERROR_HANDLE_EOF) {
		return 0 // the pipe's writer is gone: end of file, as read(2) says
	}
	if write && err == windows.ERROR_NO_DATA {
		return -int32(syscall.EPIPE) // the pipe's reader is gone ("the pipe is being closed")
	}
	return windowsResult(err)
}

// finishSynchronous completes c with a worker's result of syncStreamIO,
// copying what a read brought from the record's buffer into c's.
func (b *iocpBackend) finishSynchronous(op *iocpOp) {
	c := op.c
	res := op.workerResult
	if res > 0 {
		got := op.bounce[:res]
		switch c.op {
		case opRead, opRecv:
			copy(c.io.buf, got)
		case opReadv:
			for _, buf := range c.rare.bufs {
				got = got[copy(buf, got):]
			}
		}
	}
	b.syncCancels.remove(op)
	b.ops.put(op)
	b.loop.complete(c, fileWriteResult(c, res))
}

// cancelSynchronous asks the worker running op (a startSynchronous
// operation) to end its call, and has the loop ask again until its result
// comes (retrySyncCancels).
func (b *iocpBackend) cancelSynchronous(op *iocpOp) {
	if op.cancelRequested {
		return
	}
	op.cancelRequested = true
	b.workers.interrupt(op)
	b.syncCancels.add(op)
}

// retrySyncCancels repeats CancelSynchronousIo for the operations Cancel
// asked to end whose results have not come; poll calls it before each
// wait, which it then bounds by a millisecond.
func (b *iocpBackend) retrySyncCancels() bool {
	for _, op := range b.syncCancels.ops {
		b.workers.interrupt(op)
	}
	return len(b.syncCancels.ops) > 0
}

// syncCancelSet is the few records whose cancellation is under way.
type syncCancelSet struct{ ops []*iocpOp }

func (s *syncCancelSet) add(op *iocpOp) { s.ops = append(s.ops, op) }

func (s *syncCancelSet) remove(op *iocpOp) {
	for i, o := range s.ops {
		if o == op {
			s.ops[i] = s.ops[len(s.ops)-1]
			s.ops[len(s.ops)-1] = nil
			s.ops = s.ops[:len(s.ops)-1]
			return
		}
	}
}

// currentThreadHandle returns a real handle of the calling OS thread (the
// worker's, locked to it), which CancelSynchronousIo names.
func currentThreadHandle() windows.Handle {
	process := windows.CurrentProcess()
	var h windows.Handle
	if err := windows.DuplicateHandle(process, windows.CurrentThread(), process, &h, 0, false, windows.DUPLICATE_SAME_ACCESS); err != nil {
		return 0 // its calls then cannot be canceled: they end when the peer acts
	}
	return h
}

// cancelSynchronousIo ends the synchronous call thread is in, if any.
func cancelSynchronousIo(thread windows.Handle) {
	_, _, _ = syscall.SyscallN(procCancelSynchronousIo.Addr(), uintptr(thread))
}
