//go:build linux || darwin || freebsd || netbsd || openbsd

package ioloop

import (
	"sync"
	"sync/atomic"
	"syscall"
)

// filePool runs the operations readiness cannot make non-blocking (file
// reads and writes, fsync, open, statx, close of files, and the
// file-system operations: fallocate, ftruncate, rename, unlink, mkdir,
// link, symlink, fadvise, sync_file_range) on a bounded set
// of worker goroutines: one shared FIFO, several workers, the
// "single queue, multiple workers" architecture, so a slow operation
// delays only itself. Each worker blocks in its system call on its own OS
// thread (the Go runtime hands the thread's P to other goroutines).
//
// Ownership: the loop hands a Completion over in submit and takes it back
// from done; in between only the pool touches its link (next), under mu,
// and the worker running it writes only its result (n). The mutex gives
// the happens-before edges both ways, so the race detector is satisfied
// and nothing is read half-written. Callbacks never run here: finished
// completions go to done and the loop is woken (wakeLoop) to collect them.
// The io_uring backend keeps a pool too, for the file operations whose
// opcode the kernel lacks.
type filePool struct {
	mu         sync.Mutex
	workReady  sync.Cond // signaled per queued operation for an idle worker
	work       fifo      // queued, not started
	done       fifo      // finished, waiting for the loop
	workers    int       // started and not exited
	idle       int       // waiting on workReady and not yet signaled
	maxWorkers int
	quit       bool
	exited     sync.WaitGroup
	doneCount  atomic.Int32 // done.size, readable without mu
	// wakeLoop wakes the loop (Loop.wake) when it sleeps, so that it
	// collects finished operations; safe from any goroutine.
	wakeLoop func()
}

func (p *filePool) init(maxWorkers int, wakeLoop func()) {
	p.workReady.L = &p.mu
	p.maxWorkers = maxWorkers
	p.wakeLoop = wakeLoop
}

// submit queues c and makes sure a worker will run it: an idle worker is
// signaled, or a new one starts while fewer than maxWorkers exist.
func (p *filePool) submit(c *Completion) {
	p.mu.Lock()
	p.work.push(c)
	switch {
	case p.idle > 0:
		p.idle-- // counted here so that two submits never signal one worker
		p.workReady.Signal()
	case p.workers < p.maxWorkers:
		p.workers++
		p.exited.Add(1)
		go p.run()
	}
	p.mu.Unlock()
}

// cancel takes c back if no worker has started it.
func (p *filePool) cancel(c *Completion) bool {
	p.mu.Lock()
	removed := p.work.remove(c)
	p.mu.Unlock()
	return removed
}

// cancelQueued takes back every operation no worker has started.
func (p *filePool) cancelQueued() fifo {
	p.mu.Lock()
	queued := p.work.takeAll()
	p.mu.Unlock()
	return queued
}

// takeDone returns the finished operations, in the order they finished.
func (p *filePool) takeDone() fifo {
	if p.doneCount.Load() == 0 {
		return fifo{}
	}
	p.mu.Lock()
	finished := p.done.takeAll()
	p.doneCount.Store(0)
	p.mu.Unlock()
	return finished
}

// run is a worker: it takes operations in FIFO order until stop.
func (p *filePool) run() {
	defer p.exited.Done()
	p.mu.Lock()
	for {
		for p.work.empty() && !p.quit {
			p.idle++
			p.workReady.Wait()
		}
		if p.work.empty() { // quit, and nothing left to do
			p.workers--
			p.mu.Unlock()
			return
		}
		c := p.work.pop()
		p.mu.Unlock()
		if workerStarting != nil {
			workerStarting(c)
		}
		result := runFileOp(c)
		p.mu.Lock()
		c.n = result
		p.done.push(c)
		p.doneCount.Store(int32(p.done.size))
		p.wakeLoop()
	}
}

// workerStarting, when set (by whitebox tests only, before the loop
// starts its workers), runs on the worker before each operation: a test
// holds an operation "running" with it to cancel or close around it.
var workerStarting func(c *Completion)

// stop ends every worker once the queue is empty and waits for them, so
// that Close leaks no goroutine.
func (p *filePool) stop() {
	p.mu.Lock()
	p.quit = true
	p.idle = 0
	p.workReady.Broadcast()
	p.mu.Unlock()
	p.exited.Wait()
}

// runFileOp performs c's blocking system call on a worker and returns the
// raw result: a count or descriptor, or a negated errno, as io_uring
// reports it, so that Loop.complete interprets both backends alike.
func runFileOp(c *Completion) int32 {
	fd := int(c.fd)
	n, errno := 0, syscall.Errno(0)
	for attempt := 0; attempt < maxEINTRRetries; attempt++ {
		switch c.op {
		case opRead:
			buf := c.io.buf[:min(len(c.io.buf), maxIOLen)]
			if c.io.offset < 0 {
				n, errno = sysRead(fd, buf)
			} else {
				n, errno = sysPread(fd, buf, c.io.offset)
			}
		case opWrite:
			buf := c.io.buf[:min(len(c.io.buf), maxIOLen)]
			switch {
			case c.flags != 0: // WriteDurable
				n, errno = sysWriteDurable(fd, buf, c.io.offset, Durability(c.flags))
			case c.io.offset < 0:
				n, errno = sysWrite(fd, buf)
			default:
				n, errno = sysPwrite(fd, buf, c.io.offset)
			}
		case opReadv:
			n, errno = sysReadv(fd, c.rare.iovecs, c.rare.bufs, c.io.offset)
		case opWritev:
			if c.flags != 0 { // WritevDurable
				n, errno = sysWritevDurable(fd, c.rare.iovecs, c.rare.bufs, c.io.offset, Durability(c.flags))
			} else {
				n, errno = sysWritev(fd, c.rare.iovecs, c.rare.bufs, c.io.offset)
			}
		case opFsync:
			errno = sysFsync(fd, c.flags&fsyncDatasync != 0)
		case opOpenAt:
			n, errno = sysOpenat(fd, c.rare.pathNUL, int(c.flags), c.rare.mode)
		case opStatx:
			errno = sysStatx(fd, c.rare.pathNUL, int(c.flags), int(c.rare.mode), c.rare.statx)
		case opFallocate:
			errno = sysFallocate(fd, c.rare.mode, c.io.offset, c.rare.lengthBytes)
		case opFtruncate:
			errno = sysFtruncate(fd, c.rare.lengthBytes)
		case opFadvise:
			errno = sysFadvise(fd, c.io.offset, c.rare.lengthBytes, int(c.flags))
		case opSyncFileRange:
			errno = sysSyncFileRange(fd, c.io.offset, c.rare.lengthBytes, int(c.flags))
		case opRenameat:
			errno = sysRenameat(fd, c.rare.pathNUL, int(c.rare.dirFD2), c.rare.path2NUL, c.flags)
		case opLinkat:
			errno = sysLinkat(fd, c.rare.pathNUL, int(c.rare.dirFD2), c.rare.path2NUL, int(c.flags))
		case opUnlinkat:
			errno = sysUnlinkat(fd, c.rare.pathNUL, int(c.flags))
		case opMkdirat:
			errno = sysMkdirat(fd, c.rare.pathNUL, c.rare.mode)
		case opSymlinkat:
			errno = sysSymlinkat(c.rare.pathNUL, int(c.rare.dirFD2), c.rare.path2NUL)
		case opClose:
			// Never retried: after EINTR the descriptor is already
			// released on Linux, and retrying could close a reused one.
			return -int32(sysClose(fd))
		default:
			panic("ioloop: internal error: file worker cannot run " + c.op.String())
		}
		if errno != syscall.EINTR {
			break
		}
	}
	if errno != 0 {
		return -int32(errno)
	}
	return int32(n)
}

// maxEINTRRetries bounds retries of a system call a signal interrupted
// before it did anything.
const maxEINTRRetries = 100
