package ioloop

import (
	"runtime"
	"sync"
	"syscall"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/windows"
)

// iocpWorkers runs the operations Windows has no overlapped form of
// (FlushFileBuffers for Fsync and Fdatasync, CreateFile for OpenAt) on at
// most Options.FileWorkers goroutines, started on demand: one FIFO under
// a mutex, as the readiness backends' filePool. A worker writes the raw
// result into the record and posts the record's OVERLAPPED to the loop's
// completion port (key keyWorker), so its result arrives like any other
// packet and needs no wakeup of its own. The port's queue orders the
// worker's writes before the loop's reads (PostQueuedCompletionStatus and
// GetQueuedCompletionStatusEx are a release and an acquire).
type iocpWorkers struct {
	mu         sync.Mutex
	workReady  sync.Cond
	work       []*iocpOp // FIFO: work[head:], its array reused
	head       int
	workers    int
	idle       int
	maxWorkers int
	quit       bool
	// gone is signaled when a worker exits; stop waits on it.
	gone sync.Cond
	// abandoned are the synchronous stream operations Close let go of
	// while a worker's call was in the kernel (abandon); closed: stop has
	// returned, the port is gone, and those workers exit without posting.
	abandoned []*iocpOp
	closed    bool
	port      windows.Handle
}

func (p *iocpWorkers) init(maxWorkers int, port windows.Handle) {
	p.workReady.L = &p.mu
	p.gone.L = &p.mu
	p.maxWorkers = maxWorkers
	p.port = port
}

// submit queues op and makes sure a worker will run it.
func (p *iocpWorkers) submit(op *iocpOp) {
	p.mu.Lock()
	p.work = append(p.work, op)
	switch {
	case p.idle > 0:
		p.idle--
		p.workReady.Signal()
	case p.workers < p.maxWorkers:
		p.workers++
		go p.run()
	}
	p.mu.Unlock()
}

// cancel takes op back if no worker has started it.
func (p *iocpWorkers) cancel(op *iocpOp) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := p.head; i < len(p.work); i++ {
		if p.work[i] == op {
			copy(p.work[i:], p.work[i+1:])
			p.work[len(p.work)-1] = nil
			p.work = p.work[:len(p.work)-1]
			return true
		}
	}
	return false
}

// cancelQueued takes back every operation no worker has started (Close:
// nothing is submitted after it).
func (p *iocpWorkers) cancelQueued() []*iocpOp {
	p.mu.Lock()
	queued := append([]*iocpOp(nil), p.work[p.head:]...)
	clear(p.work)
	p.work, p.head = p.work[:0], 0
	p.mu.Unlock()
	return queued
}

func (p *iocpWorkers) run() {
	// Locked for the worker's life, so that CancelSynchronousIo can name
	// the thread of a synchronous call (backend_iocp_sync_windows.go);
	// the thread ends with the worker.
	runtime.LockOSThread()
	var thread windows.Handle
	p.mu.Lock()
	for {
		for p.head == len(p.work) && !p.quit {
			p.idle++
			p.workReady.Wait()
		}
		if p.head == len(p.work) {
			p.exit(thread)
			return
		}
		op := p.work[p.head]
		p.work[p.head] = nil
		p.head++
		if p.head == len(p.work) {
			p.work, p.head = p.work[:0], 0 // empty: start again at the front
		}
		if op.syncStream {
			if thread == 0 {
				thread = currentThreadHandle()
			}
			op.thread = thread // read under mu by interrupt and abandon
		}
		interrupted := op.interrupted
		p.mu.Unlock()
		var res int32
		if interrupted {
			res = -int32(syscall.ECANCELED) // a Cancel came before the call
		} else {
			res = p.runOp(op)
		}
		p.mu.Lock()
		op.thread = 0
		if op.abandoned {
			p.forget(op)
			if p.closed {
				p.exit(thread)
				return
			}
			continue // Close took it: its result has no one to go to
		}
		op.workerResult = res
		op.posted = true
		// Under mu: stop cannot close the port between the check of
		// closed (never set while a worker runs an operation it did not
		// abandon) and this call.
		_ = windows.PostQueuedCompletionStatus(p.port, 0, keyWorker, &op.ov)
	}
}

// exit ends the calling worker; mu is held and is released.
func (p *iocpWorkers) exit(thread windows.Handle) {
	p.workers--
	p.gone.Broadcast()
	p.mu.Unlock()
	if thread != 0 {
		_ = windows.CloseHandle(thread)
	}
}

// forget drops op, whose worker's call has returned, from abandoned.
func (p *iocpWorkers) forget(op *iocpOp) {
	for i, o := range p.abandoned {
		if o == op {
			p.abandoned = append(p.abandoned[:i], p.abandoned[i+1:]...)
			return
		}
	}
}

// interrupt ends the synchronous call a worker makes for op, if it is in
// one, and makes a worker that has not started it skip the call. Under
// mu, a non-zero op.thread is in op's call (or about to enter it): the
// worker clears it under mu before it takes other work.
func (p *iocpWorkers) interrupt(op *iocpOp) {
	p.mu.Lock()
	op.interrupted = true
	if op.thread != 0 {
		cancelSynchronousIo(op.thread)
	}
	p.mu.Unlock()
}

// abandon lets go of op, a synchronous stream operation a worker runs, at
// Close: the worker is asked to stop its call and will post no result.
// It returns false if the worker has posted its result already (the
// packet then completes op as usual).
func (p *iocpWorkers) abandon(op *iocpOp) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if op.posted {
		return false
	}
	op.abandoned, op.interrupted = true, true
	p.abandoned = append(p.abandoned, op)
	if op.thread != 0 {
		cancelSynchronousIo(op.thread)
	}
	return true
}

// stop ends the workers once the queue is empty and waits for them, all
// but those in a call Close abandoned: they are asked once more to stop,
// and exit when their call returns, without posting to the port, which
// close then closes.
func (p *iocpWorkers) stop() {
	p.mu.Lock()
	p.quit = true
	p.idle = 0
	p.workReady.Broadcast()
	for p.workers > len(p.abandoned) {
		p.gone.Wait()
	}
	for _, op := range p.abandoned {
		if op.thread != 0 {
			cancelSynchronousIo(op.thread)
		}
	}
	p.closed = true
	p.mu.Unlock()
}

// runOp performs op's blocking calls and returns the raw result.
func (p *iocpWorkers) runOp(op *iocpOp) int32 {
	if op.syncStream {
		return syncStreamIO(op) // reads nothing of op.c, which Close may have let go of
	}
	c := op.c
	switch c.op {
	case opFsync:
		return windowsResult(windows.FlushFileBuffers(windows.Handle(c.fd)))
	case opOpenAt:
		h, errno := openWindowsFile(&op.paths[0], int(c.fd), c.rare.pathNUL, c.flags, c.rare.mode)
		if errno != 0 {
			return -int32(errno)
		}
		return int32(h)
	case opRead, opWrite, opReadv, opWritev:
		return p.fileIO(op)
	case opFtruncate:
		info := struct{ EndOfFile int64 }{c.rare.lengthBytes}
		err := windows.SetFileInformationByHandle(windows.Handle(c.fd), windows.FileEndOfFileInfo,
			(*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))
		return windowsResult(err)
	case opFallocate:
		return -int32(fallocateWindows(windows.Handle(c.fd), c.rare.mode, c.io.offset, c.rare.lengthBytes))
	case opUnlinkat, opMkdirat, opRenameat, opLinkat, opSymlinkat:
		return -int32(pathOp(op))
	}
	panic("ioloop: internal error: IOCP worker cannot run " + c.op.String())
}

// fileIO runs a file's Readv or Writev (a Read or Write: one buffer) as
// one overlapped ReadFile or WriteFile per buffer, waiting for each, and
// stops at a short one, as preadv(2) and pwritev(2) report; a durable
// write then flushes the file (FlushFileBuffers, which on Windows is both
// fsync and fdatasync). The OVERLAPPED is the record's workerOv, pinned
// like the others, with the low bit of its event handle set, which tells
// the kernel to post no packet to the port.
func (p *iocpWorkers) fileIO(op *iocpOp) int32 {
	c := op.c
	if op.event == 0 { // made once per record, closed with the backend
		ev, err := windows.CreateEvent(nil, 1, 0, nil)
		if err != nil {
			return -int32(windowsErrno(err))
		}
		op.event = ev
	}
	var one [1][]byte
	bufs := one[:]
	if c.op == opReadv || c.op == opWritev {
		bufs = c.rare.bufs
	} else {
		one[0] = c.io.buf
	}
	write := c.op == opWrite || c.op == opWritev
	offset := op.offsetBytes
	total := 0
	for _, buf := range bufs {
		buf = buf[:min(len(buf), maxIOLen-total)]
		op.workerOv = windows.Overlapped{HEvent: op.event | 1}
		op.workerOv.Offset, op.workerOv.OffsetHigh = uint32(offset), uint32(uint64(offset)>>32)
		var n uint32
		var err error
		if write {
			err = windows.WriteFile(op.handle, buf, &n, &op.workerOv)
		} else {
			err = windows.ReadFile(op.handle, buf, &n, &op.workerOv)
		}
		if err == nil || err == windows.ERROR_IO_PENDING {
			err = windows.GetOverlappedResult(op.handle, &op.workerOv, &n, true)
		}
		if err == windows.ERROR_HANDLE_EOF {
			break
		}
		if err != nil {
			if total > 0 {
				break // what moved is the result; the error comes again next time
			}
			return windowsResult(err)
		}
		total += int(n)
		if offset >= 0 {
			offset += int64(n)
		}
		if int(n) < len(buf) || total >= maxIOLen {
			break
		}
	}
	if write && c.flags != 0 {
		if err := windows.FlushFileBuffers(op.handle); err != nil {
			return windowsResult(err)
		}
	}
	return int32(total)
}

// pathOp runs Unlinkat (DeleteFile, or RemoveDirectory with AT_REMOVEDIR;
// a directory without it is EISDIR, as on Linux, where Windows says
// ERROR_ACCESS_DENIED), Mkdirat (CreateDirectory; the mode does not
// apply), Renameat (MoveFileEx, replacing an existing file as rename(2)
// does; RenameNoReplace is MoveFileEx without MOVEFILE_REPLACE_EXISTING,
// RenameExchange ENOTSUP, both EINVAL), Linkat (CreateHardLink) and Symlinkat (CreateSymbolicLink,
// symlinkWindows). Paths are resolved as windowsPath says, into op's
// buffers.
func pathOp(op *iocpOp) syscall.Errno {
	c := op.c
	if c.op == opSymlinkat {
		return symlinkWindows(&op.paths, c.rare.pathNUL, int(c.rare.dirFD2), c.rare.path2NUL)
	}
	path, errno := windowsPath(&op.paths[0], int(c.fd), c.rare.pathNUL)
	if errno != 0 {
		return errno
	}
	switch c.op {
	case opUnlinkat:
		if c.flags&^sysAT_REMOVEDIR != 0 {
			return syscall.EINVAL
		}
		if c.flags&sysAT_REMOVEDIR != 0 {
			return windowsCoded(windows.RemoveDirectory(path))
		}
		errno := windowsCoded(windows.DeleteFile(path))
		if plainErrno(errno) == syscall.EACCES && isWindowsDir(path) {
			return syscall.EISDIR
		}
		return errno
	case opMkdirat:
		return windowsCoded(windows.CreateDirectory(path, nil))
	case opLinkat:
		if c.flags&^sysAT_SYMLINK_FOLLOW != 0 {
			return syscall.EINVAL
		}
	default: // Renameat
		switch c.flags {
		case 0, RenameNoReplace:
		case RenameExchange:
			return syscall.ENOTSUP // Windows has no atomic exchange of two names (as the BSDs)
		default:
			return syscall.EINVAL // both flags, or unknown ones, as renameat2(2)
		}
	}
	to, errno := windowsPath(&op.paths[1], int(c.rare.dirFD2), c.rare.path2NUL)
	if errno != 0 {
		return errno
	}
	if c.op == opRenameat && c.flags == RenameNoReplace {
		// MoveFileEx without MOVEFILE_REPLACE_EXISTING refuses an
		// existing target (ERROR_ALREADY_EXISTS: EEXIST), atomically.
		return windowsCoded(windows.MoveFileEx(path, to, 0))
	}
	if c.op == opLinkat {
		return windowsCoded(windows.CreateHardLink(to, path, 0))
	}
	return renameWindows(path, to)
}

// windowsPath converts an *at path for Windows: NUL-terminated UTF-16,
// relative to the working directory (dirfd AT_FDCWD), absolute, or
// relative to the directory handle dirfd, whose path
// GetFinalPathNameByHandle gives (dirPathWindows). Windows resolves no
// path relative to a handle in its Win32 calls (NtCreateFile's
// RootDirectory does, for some calls only), so this is not openat(2)'s
// guarantee: a directory renamed between the lookup and the call is
// missed, as a path joined in user space would miss it. It writes into
// *buf, a record's (iocpOp.paths), which keeps the storage for the next
// path: a conversion allocates only for a path longer than any before
// (and, relative to a directory handle, for that directory's path).
// Invalid UTF-8 becomes U+FFFD, as in a conversion to []rune.
func windowsPath(buf *[]uint16, dirfd int, pathNUL []byte) (*uint16, syscall.Errno) {
	path := pathNUL[:len(pathNUL)-1]
	name := (*buf)[:0]
	relative := dirfd != sysAT_FDCWD && !isAbsWindowsPath(path)
	if relative {
		dir, errno := dirPathWindows(windows.Handle(dirfd))
		if errno != 0 {
			return nil, errno
		}
		name = append(append(name, dir...), '\\')
	}
	for rest := path; len(rest) > 0; {
		r, size := utf8.DecodeRune(rest)
		if relative && r == '/' {
			r = '\\' // the \\?\ form takes no forward slashes
		}
		name = utf16.AppendRune(name, r)
		rest = rest[size:]
	}
	name = append(name, 0)
	*buf = name
	return &name[0], 0
}

// openWindowsFile is OpenAt on Windows: CreateFile with FILE_FLAG_OVERLAPPED,
// the open(2) flags mapped as follows.
//
//	O_RDONLY, O_WRONLY, O_RDWR   GENERIC_READ, GENERIC_WRITE, both
//	O_APPEND                     every Write goes to the end of the file
//	O_CREAT, O_EXCL, O_TRUNC     OPEN_ALWAYS, CREATE_NEW, CREATE_ALWAYS,
//	                             TRUNCATE_EXISTING, OPEN_EXISTING as combined
//	O_DIRECT                     FILE_FLAG_NO_BUFFERING
//	O_DSYNC, O_SYNC              FILE_FLAG_WRITE_THROUGH
//	O_DIRECTORY                  FILE_FLAG_BACKUP_SEMANTICS (opens a directory);
//	                             ENOTDIR unless it is one
//	O_RDONLY                     FILE_FLAG_BACKUP_SEMANTICS too (opens a directory
//	                             read-only, as open(2) does; package syscall does the same)
//	O_NOFOLLOW                   a symbolic link is ELOOP (isWindowsSymlink)
//	mode without 0200, created   FILE_ATTRIBUTE_READONLY (as package os does)
//
// Sharing is FILE_SHARE_READ|WRITE|DELETE, so that files behave as on
// POSIX systems (another handle may rename or delete an open file). The
// path is resolved as windowsPath says. buf is windowsPath's.
func openWindowsFile(buf *[]uint16, dirfd int, pathNUL []byte, flags, mode uint32) (windows.Handle, syscall.Errno) {
	name, errno := windowsPath(buf, dirfd, pathNUL)
	if errno != 0 {
		return windows.InvalidHandle, errno
	}
	var access uint32
	switch flags & (sysO_WRONLY | sysO_RDWR) {
	case sysO_RDONLY:
		access = windows.GENERIC_READ
	case sysO_WRONLY:
		access = windows.GENERIC_WRITE
	default:
		access = windows.GENERIC_READ | windows.GENERIC_WRITE
	}
	var disposition uint32
	switch {
	case flags&(sysO_CREAT|sysO_EXCL) == sysO_CREAT|sysO_EXCL:
		disposition = windows.CREATE_NEW
	case flags&(sysO_CREAT|sysO_TRUNC) == sysO_CREAT|sysO_TRUNC:
		disposition = windows.CREATE_ALWAYS
	case flags&sysO_CREAT != 0:
		disposition = windows.OPEN_ALWAYS
	case flags&sysO_TRUNC != 0:
		disposition = windows.TRUNCATE_EXISTING
	default:
		disposition = windows.OPEN_EXISTING
	}
	attrs := uint32(windows.FILE_ATTRIBUTE_NORMAL | windows.FILE_FLAG_OVERLAPPED)
	if flags&sysO_CREAT != 0 && mode&0o200 == 0 {
		attrs |= windows.FILE_ATTRIBUTE_READONLY
	}
	if flags&sysO_DIRECT != 0 {
		attrs |= windows.FILE_FLAG_NO_BUFFERING
	}
	if flags&sysO_DSYNC != 0 {
		attrs |= windows.FILE_FLAG_WRITE_THROUGH
	}
	if flags&sysO_DIRECTORY != 0 || access == windows.GENERIC_READ {
		attrs |= windows.FILE_FLAG_BACKUP_SEMANTICS
	}
	if flags&sysO_NOFOLLOW != 0 && isWindowsSymlink(name) {
		return windows.InvalidHandle, syscall.ELOOP
	}
	h, err := windows.CreateFile(name, access,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, disposition, attrs, 0)
	if err != nil {
		return windows.InvalidHandle, windowsCoded(err)
	}
	if flags&sysO_DIRECTORY != 0 {
		// FILE_FLAG_BACKUP_SEMANTICS opens files too; open(2) with
		// O_DIRECTORY fails on anything but a directory.
		var info windows.ByHandleFileInformation
		errno := windowsErrno(windows.GetFileInformationByHandle(h, &info))
		if errno == 0 && info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY == 0 {
			errno = syscall.ENOTDIR
		}
		if errno != 0 {
			_ = windows.CloseHandle(h)
			return windows.InvalidHandle, errno
		}
	}
	noteHandleBorn(h)
	return h, 0
}

// isAbsWindowsPath reports whether path is absolute: a drive letter and a
// separator, or a UNC path.
func isAbsWindowsPath(path []byte) bool {
	isSep := func(b byte) bool { return b == '\\' || b == '/' }
	if len(path) >= 3 && path[1] == ':' && isSep(path[2]) {
		return true
	}
	return len(path) >= 2 && isSep(path[0]) && isSep(path[1])
}
