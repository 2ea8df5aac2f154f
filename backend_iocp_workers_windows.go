package ioloop

import (
	"sync"
	"syscall"
	"unicode/utf16"

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
	exited     sync.WaitGroup
	port       windows.Handle
}

func (p *iocpWorkers) init(maxWorkers int, port windows.Handle) {
	p.workReady.L = &p.mu
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
		p.exited.Add(1)
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
	defer p.exited.Done()
	p.mu.Lock()
	for {
		for p.head == len(p.work) && !p.quit {
			p.idle++
			p.workReady.Wait()
		}
		if p.head == len(p.work) {
			p.workers--
			p.mu.Unlock()
			return
		}
		op := p.work[p.head]
		p.work[p.head] = nil
		p.head++
		if p.head == len(p.work) {
			p.work, p.head = p.work[:0], 0 // empty: start again at the front
		}
		p.mu.Unlock()
		op.workerResult = runWorkerOp(op.c)
		_ = windows.PostQueuedCompletionStatus(p.port, 0, keyWorker, &op.ov)
		p.mu.Lock()
	}
}

// stop ends the workers once the queue is empty and waits for them.
func (p *iocpWorkers) stop() {
	p.mu.Lock()
	p.quit = true
	p.idle = 0
	p.workReady.Broadcast()
	p.mu.Unlock()
	p.exited.Wait()
}

// runWorkerOp performs c's blocking call and returns its raw result.
func runWorkerOp(c *Completion) int32 {
	switch c.op {
	case opFsync:
		return -int32(windowsErrno(windows.FlushFileBuffers(windows.Handle(c.fd))))
	case opOpenAt:
		h, errno := openWindowsFile(int(c.fd), c.rare.pathNUL, c.flags, c.rare.mode)
		if errno != 0 {
			return -int32(errno)
		}
		return int32(h)
	}
	panic("ioloop: internal error: IOCP worker cannot run " + c.op.String())
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
//	O_DIRECTORY                  FILE_FLAG_BACKUP_SEMANTICS (opens a directory)
//	mode without 0200, created   FILE_ATTRIBUTE_READONLY (as package os does)
//
// Sharing is FILE_SHARE_READ|WRITE|DELETE, so that files behave as on
// POSIX systems (another handle may rename or delete an open file). The
// path is relative to the working directory: dirfd must be AT_FDCWD
// unless the path is absolute (EINVAL otherwise).
func openWindowsFile(dirfd int, pathNUL []byte, flags, mode uint32) (windows.Handle, syscall.Errno) {
	path := pathNUL[:len(pathNUL)-1]
	if dirfd != sysAT_FDCWD && !isAbsWindowsPath(path) {
		return windows.InvalidHandle, syscall.EINVAL
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
	if flags&sysO_DIRECTORY != 0 {
		attrs |= windows.FILE_FLAG_BACKUP_SEMANTICS
	}
	name := utf16.Encode([]rune(string(path)))
	name = append(name, 0)
	h, err := windows.CreateFile(&name[0], access,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, disposition, attrs, 0)
	if err != nil {
		return windows.InvalidHandle, windowsErrno(err)
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
