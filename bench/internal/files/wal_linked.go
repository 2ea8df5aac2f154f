package files

import "github.com/ioloop/ioloop"

// submitLinked submits a's Write and, linked after it, its Fdatasync:
// one chain the kernel (io_uring) or the loop (epoll) runs in order,
// the Fdatasync only once the Write has succeeded.
func (l *walLog) submitLinked(a *walAppender, off int64) {
	l.loop.BeginChain()
	ioloop.Write(l.loop, &a.write, l.fd, l.rec, off, a, (*walAppender).onLinkedWrite)
	ioloop.Fdatasync(l.loop, &a.sync, l.fd, a, (*walAppender).onSync)
	l.loop.EndChain()
}
