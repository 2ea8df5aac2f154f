//go:build darwin || freebsd || netbsd || openbsd

package ioloop

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Thin system calls for the kqueue backend (contract in backend_readiness_sys.go), the
// part common to macOS and the BSDs; backend_readiness_sys_darwin.go and backend_readiness_sys_notdarwin_bsd.go hold
// what differs. They go through x/sys's wrappers: macOS and OpenBSD allow
// system calls only through libc, which x/sys reaches and a raw
// unix.Syscall does not portably. Where a wrapper takes a unix.Sockaddr,
// a string or [][]byte, that costs an allocation per call; the kqueue
// backend accepts it rather than duplicate x/sys's per-OS plumbing.

// sysRecv uses recvfrom(2) with MSG_DONTWAIT, so that a socket whose
// O_NONBLOCK is clear answers EAGAIN instead of blocking the loop. A
// connected stream socket reports no sender, so x/sys allocates none.
func sysRecv(fd int, buf []byte) (int, syscall.Errno) {
	n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
	return countOf(n, err)
}

// sysRecvmsg and sysSendmsg are Readv and Writev on a socket, with the
// flags of sysRecv and sysSend (x/sys builds its own iovec array).
func sysRecvmsg(fd int, _ []unix.Iovec, bufs [][]byte) (int, syscall.Errno) {
	n, _, _, _, err := unix.RecvmsgBuffers(fd, bufs, nil, unix.MSG_DONTWAIT)
	return countOf(n, err)
}

func sysSendmsg(fd int, _ []unix.Iovec, bufs [][]byte) (int, syscall.Errno) {
	return countOf(unix.SendmsgBuffers(fd, bufs, nil, nil, sendFlags))
}

// sysSendMessage and sysRecvMessage are SendTo, SendMsg, RecvFrom and
// RecvMsg through x/sys's sendmsg and recvmsg, which build their own
// msghdr (and allocate); recvmsg's results are written back into the
// Completion's msghdr and sockaddr, where the callback reads them on every
// backend (ops_udp.go).
func sysSendMessage(fd int, rare *rareArgs) (int, syscall.Errno) {
	var to unix.Sockaddr
	if rare.msg.Name != nil {
		sa, errno := sockaddrFromRaw(&rare.sockaddr, rare.msg.Namelen)
		if errno != 0 {
			return 0, errno
		}
		to = sa
	}
	return countOf(unix.SendmsgBuffers(fd, iovecBuffers(rare.iovecs), rare.oob, to, sendFlags))
}

func sysRecvMessage(fd int, rare *rareArgs) (int, syscall.Errno) {
	n, oobn, flags, from, err := unix.RecvmsgBuffers(fd, iovecBuffers(rare.iovecs), rare.oob, unix.MSG_DONTWAIT)
	if err != nil {
		return 0, errnoOf(err)
	}
	msg := &rare.msg
	msg.SetControllen(oobn)
	msg.Flags = int32(flags)
	msg.Namelen = 0
	if addr := addrPortFromSockaddr(from); addr.IsValid() {
		if size, errno := encodeInetSockaddr(addr, &rare.sockaddr); errno == 0 {
			msg.Namelen = size
		}
	}
	return n, 0
}

// iovecBuffers turns the Completion's iovecs back into the buffers they
// describe, for x/sys.
func iovecBuffers(iovecs []unix.Iovec) [][]byte {
	bufs := make([][]byte, len(iovecs))
	for i := range iovecs {
		bufs[i] = unsafe.Slice(iovecs[i].Base, iovecs[i].Len)
	}
	return bufs
}

// haveNowait: RWF_NOWAIT is Linux's; a blocking pipe or terminal waits
// for readiness before each read or write (fdState.waitsBeforeTrying).
const haveNowait = false

func sysNowait(int, bool, []unix.Iovec) (int, syscall.Errno) { return 0, syscall.EOPNOTSUPP }

// sysIsTerminal reports whether fd is a terminal.
func sysIsTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TIOCGETA)
	return err == nil
}

// sysConnect rebuilds a unix.Sockaddr from the raw address the Completion
// holds, because x/sys offers connect(2) only for that form.
func sysConnect(fd int, sa *unix.RawSockaddrAny, size uint32) syscall.Errno {
	addr, errno := sockaddrFromRaw(sa, size)
	if errno != 0 {
		return errno
	}
	return errnoOf(unix.Connect(fd, addr))
}

func sysSocketError(fd int) syscall.Errno {
	value, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return errnoOf(err)
	}
	return syscall.Errno(value)
}

func sysShutdown(fd, how int) syscall.Errno {
	return errnoOf(unix.Shutdown(fd, how))
}

func sysClose(fd int) syscall.Errno {
	return errnoOf(unix.Close(fd))
}

func sysRead(fd int, buf []byte) (int, syscall.Errno) {
	return countOf(unix.Read(fd, buf))
}

func sysWrite(fd int, buf []byte) (int, syscall.Errno) {
	return countOf(unix.Write(fd, buf))
}

func sysPread(fd int, buf []byte, offset int64) (int, syscall.Errno) {
	return countOf(unix.Pread(fd, buf, offset))
}

func sysPwrite(fd int, buf []byte, offset int64) (int, syscall.Errno) {
	return countOf(unix.Pwrite(fd, buf, offset))
}

// sysOpenat copies the path into a string for x/sys (which copies it back
// into a NUL-terminated buffer): two allocations next to an open(2).
func sysOpenat(dirfd int, pathNUL []byte, flags int, mode uint32) (int, syscall.Errno) {
	return countOf(unix.Openat(dirfd, pathString(pathNUL), flags, mode))
}

// sysStatx: statx(2) is Linux's, and the Statx operation exists only there.
func sysStatx(int, []byte, int, int, *statxBuffer) syscall.Errno {
	return syscall.ENOSYS
}

// countOf converts an x/sys (count, error) result, whose count is -1 on
// some systems when the call failed.
func countOf(n int, err error) (int, syscall.Errno) {
	if err != nil {
		return 0, errnoOf(err)
	}
	return n, 0
}

// sysWriteDurable and sysWritevDurable: the BSDs and macOS have no
// per-write sync flag (RWF_DSYNC is Linux's), so the worker that writes
// syncs the file before the operation completes: sysFsync, which is
// F_FULLFSYNC on macOS (its fsync(2) leaves the data in the drive's
// cache) and fsync(2) elsewhere (x/sys has no fdatasync there; fsync does
// strictly more). As with RWF_DSYNC, a write of nothing syncs nothing, and
// a sync that fails fails the write.
func sysWriteDurable(fd int, buf []byte, offset int64, d Durability) (int, syscall.Errno) {
	var n int
	var errno syscall.Errno
	if offset < 0 {
		n, errno = sysWrite(fd, buf)
	} else {
		n, errno = sysPwrite(fd, buf, offset)
	}
	return syncAfterWrite(fd, n, errno, d)
}

func sysWritevDurable(fd int, iovecs []unix.Iovec, bufs [][]byte, offset int64, d Durability) (int, syscall.Errno) {
	n, errno := sysWritev(fd, iovecs, bufs, offset)
	return syncAfterWrite(fd, n, errno, d)
}

// syncAfterWrite syncs after a write that moved bytes. It retries an
// interrupted sync itself: runFileOp's retry would repeat the write, and
// at the current position that writes the bytes twice.
func syncAfterWrite(fd, n int, errno syscall.Errno, d Durability) (int, syscall.Errno) {
	if errno != 0 || n == 0 {
		return n, errno
	}
	for attempt := 0; attempt < maxEINTRRetries; attempt++ {
		if errno = sysFsync(fd, d == DataSync); errno != syscall.EINTR {
			break
		}
	}
	if errno != 0 {
		return 0, errno
	}
	return n, 0
}

func sysFtruncate(fd int, length int64) syscall.Errno {
	return errnoOf(unix.Ftruncate(fd, length))
}

// sysFadvise checks fd (EBADF; ESPIPE for a pipe or socket, as Linux
// answers) and passes the hint on where the system has posix_fadvise
// (sysFadviseOS). FreeBSD and NetBSD return posix_fadvise's error as the
// call's value rather than in errno, which x/sys does not read, so the
// check here is what reports a bad descriptor on every system.
func sysFadvise(fd int, offset, length int64, advice int) syscall.Errno {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errnoOf(err)
	}
	if mode := st.Mode & unix.S_IFMT; mode == unix.S_IFIFO || mode == unix.S_IFSOCK {
		return syscall.ESPIPE
	}
	return sysFadviseOS(fd, offset, length, advice)
}

// sysSyncFileRange: sync_file_range(2) is Linux's, and the SyncFileRange
// operation exists only there.
func sysSyncFileRange(int, int64, int64, int) syscall.Errno {
	return syscall.ENOSYS
}

// The path operations copy each path into a string for x/sys, as
// sysOpenat does.

func sysLinkat(oldDirFD int, oldNUL []byte, newDirFD int, newNUL []byte, flags int) syscall.Errno {
	return errnoOf(unix.Linkat(oldDirFD, pathString(oldNUL), newDirFD, pathString(newNUL), flags))
}

func sysUnlinkat(dirFD int, pathNUL []byte, flags int) syscall.Errno {
	return errnoOf(unix.Unlinkat(dirFD, pathString(pathNUL), flags))
}

func sysMkdirat(dirFD int, pathNUL []byte, mode uint32) syscall.Errno {
	return errnoOf(unix.Mkdirat(dirFD, pathString(pathNUL), mode))
}

func sysSymlinkat(targetNUL []byte, newDirFD int, linkNUL []byte) syscall.Errno {
	return errnoOf(unix.Symlinkat(pathString(targetNUL), newDirFD, pathString(linkNUL)))
}

// pathString is a NUL-terminated path the Completion keeps, without its NUL.
func pathString(pathNUL []byte) string { return string(pathNUL[:len(pathNUL)-1]) }
