package ioloop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Statx fills stat with the status of path relative to dirfd, like
// statx(2): flags such as unix.AT_EMPTY_PATH or unix.AT_SYMLINK_NOFOLLOW,
// mask such as unix.STATX_BASIC_STATS. stat must stay untouched until the
// callback runs.
//
// Statx exists on Linux only: statx(2) and struct statx are Linux's, and
// other systems have no equivalent worth hiding them behind.
func Statx[T any](l *Loop, c *Completion, dirfd int, path string, flags int, mask int, stat *unix.Statx_t, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opStatx, callback == nil)
	c.op = opStatx
	if stat == nil {
		panic("ioloop: Statx with a nil *unix.Statx_t")
	}
	c.fd = int32(dirfd)
	c.flags = uint32(flags)
	c.attachRare().mode = uint32(mask)
	c.attachRare().statx = stat
	l.submitUnless(c.setPath(path), c, unsafe.Pointer(ctx), errorCallback[T](callback))
}
