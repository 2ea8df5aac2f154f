//go:build freebsd || netbsd || openbsd

package ioloop

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// The system calls in which FreeBSD, NetBSD and OpenBSD differ from macOS
// (backend_readiness_sys_bsd.go has the common ones).

// sendFlags: MSG_NOSIGNAL, so a peer that went away yields EPIPE and never
// SIGPIPE, and MSG_DONTWAIT, so that a blocking socket cannot block the
// loop.
const sendFlags = unix.MSG_NOSIGNAL | unix.MSG_DONTWAIT

// sysSend uses sendmsg(2), the x/sys wrapper that reports the count (Sendto
// drops it).
func sysSend(fd int, buf []byte) (int, syscall.Errno) {
	return countOf(unix.SendmsgN(fd, buf, nil, nil, sendFlags))
}

// sysAccept uses accept4 (paccept on NetBSD) to get a non-blocking,
// close-on-exec socket in one call. It comes from package syscall, which
// has it on all three systems; x/sys has it on FreeBSD only. The peer's
// address is allocated and dropped.
func sysAccept(listenFD int) (int, syscall.Errno) {
	fd, _, err := syscall.Accept4(listenFD, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
	if err != nil {
		return -1, errnoOf(err)
	}
	return fd, 0
}

// sysReadv and sysWritev: x/sys has no readv, writev, preadv or pwritev
// here, so they read or write bufs one at a time, stopping at the first
// short transfer. Unlike the real calls this is not atomic: another
// reader or writer of the file (an O_APPEND writer, a pipe's other users)
// can interleave between the pieces. An error after some progress returns
// the progress; the next call reports the error.
func sysReadv(fd int, _ []unix.Iovec, bufs [][]byte, offset int64) (int, syscall.Errno) {
	return vectoredByParts(fd, bufs, offset, sysRead, sysPread)
}

func sysWritev(fd int, _ []unix.Iovec, bufs [][]byte, offset int64) (int, syscall.Errno) {
	return vectoredByParts(fd, bufs, offset, sysWrite, sysPwrite)
}

func vectoredByParts(fd int, bufs [][]byte, offset int64,
	atPosition func(int, []byte) (int, syscall.Errno),
	atOffset func(int, []byte, int64) (int, syscall.Errno)) (int, syscall.Errno) {
	total := 0
	for _, buf := range bufs {
		if len(buf) == 0 {
			continue
		}
		var n int
		var errno syscall.Errno
		if offset < 0 {
			n, errno = atPosition(fd, buf)
		} else {
			n, errno = atOffset(fd, buf, offset+int64(total))
		}
		if errno != 0 {
			if total > 0 {
				return total, 0
			}
			return 0, errno
		}
		total += n
		if n < len(buf) {
			break
		}
	}
	return total, 0
}

// sysFsync uses fsync(2) for Fdatasync too: x/sys has no fdatasync on
// these systems (FreeBSD and NetBSD have the call), and fsync does
// strictly more.
func sysFsync(fd int, _ bool) syscall.Errno {
	return errnoOf(unix.Fsync(fd))
}

// sysRenameat: FreeBSD, NetBSD and OpenBSD have renameat(2) only, no
// flags: RenameNoReplace cannot be made atomic with it (a check before
// the rename would race), so any flag fails with ENOTSUP.
func sysRenameat(oldDirFD int, oldNUL []byte, newDirFD int, newNUL []byte, flags uint32) syscall.Errno {
	if flags != 0 {
		return syscall.ENOTSUP
	}
	return errnoOf(unix.Renameat(oldDirFD, pathString(oldNUL), newDirFD, pathString(newNUL)))
}
