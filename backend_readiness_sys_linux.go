package ioloop

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Thin Linux system calls for the readiness backend (contract in
// backend_readiness_sys.go). They call the kernel directly with pointers the caller keeps
// alive, which x/sys's wrappers cannot always do without allocating (a
// sockaddr result, a string path, an iovec array).
//
// Socket calls on descriptors the loop waits on are made with Syscall, not
// RawSyscall, although they should not block: a program may hand the loop
// a blocking descriptor, and a raw system call that blocks would stall the
// garbage collector.

func bufferPointer(buf []byte) uintptr {
	return uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
}

// sysRecv and sysSend pass MSG_DONTWAIT, so that a socket whose
// O_NONBLOCK is clear (as os.File.Fd() leaves it) answers EAGAIN instead of
// blocking the loop; the flag costs the kernel nothing.
func sysRecv(fd int, buf []byte) (int, syscall.Errno) {
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), bufferPointer(buf), uintptr(len(buf)), unix.MSG_DONTWAIT, 0, 0)
	return int(n), errno
}

func sysSend(fd int, buf []byte) (int, syscall.Errno) {
	n, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), bufferPointer(buf), uintptr(len(buf)),
		unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, 0, 0)
	return int(n), errno
}

// sysRecvmsg and sysSendmsg are Readv and Writev on a socket: recvmsg and
// sendmsg over the Completion's own iovec array, with the flags of
// sysRecv and sysSend.
func sysRecvmsg(fd int, iovecs []unix.Iovec, _ [][]byte) (int, syscall.Errno) {
	return socketMsg(unix.SYS_RECVMSG, fd, iovecs, unix.MSG_DONTWAIT)
}

func sysSendmsg(fd int, iovecs []unix.Iovec, _ [][]byte) (int, syscall.Errno) {
	return socketMsg(unix.SYS_SENDMSG, fd, iovecs, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
}

// sysSendMessage and sysRecvMessage are SendTo, SendMsg, RecvFrom and
// RecvMsg: one sendmsg or recvmsg over the msghdr the Completion keeps
// (ops_udp.go), which recvmsg fills with the sender, the control length
// and the flags, as io_uring does.
func sysSendMessage(fd int, rare *rareArgs) (int, syscall.Errno) {
	n, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&rare.msg)), unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
	return int(n), errno
}

func sysRecvMessage(fd int, rare *rareArgs) (int, syscall.Errno) {
	n, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&rare.msg)), unix.MSG_DONTWAIT)
	return int(n), errno
}

func socketMsg(trap uintptr, fd int, iovecs []unix.Iovec, flags int) (int, syscall.Errno) {
	var msg unix.Msghdr
	if len(iovecs) > 0 {
		msg.Iov = &iovecs[0]
		msg.SetIovlen(len(iovecs))
	}
	n, _, errno := unix.Syscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	return int(n), errno
}

// haveNowait: preadv2 and pwritev2 take RWF_NOWAIT, which makes a read or
// write of a blocking pipe answer EAGAIN instead of waiting (Linux 4.14
// for files, later for pipes; EOPNOTSUPP where refused, as by terminals).
const haveNowait = true

// sysNowait reads (write false) or writes iovecs at fd's current position
// with RWF_NOWAIT. Offset -1 travels as all ones in both halves.
func sysNowait(fd int, write bool, iovecs []unix.Iovec) (int, syscall.Errno) {
	trap := uintptr(unix.SYS_PREADV2)
	if write {
		trap = unix.SYS_PWRITEV2
	}
	iov, count := uintptr(unsafe.Pointer(unsafe.SliceData(iovecs))), uintptr(len(iovecs))
	n, _, errno := unix.Syscall6(trap, uintptr(fd), iov, count, ^uintptr(0), ^uintptr(0), unix.RWF_NOWAIT)
	return int(n), errno
}

// sysIsTerminal reports whether fd is a terminal (a character device that
// readiness works for, unlike /dev/null or /dev/zero).
func sysIsTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

func sysAccept(listenFD int) (int, syscall.Errno) {
	fd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(listenFD), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	return int(fd), errno
}

func sysConnect(fd int, sa *unix.RawSockaddrAny, size uint32) syscall.Errno {
	_, _, errno := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(size))
	return errno
}

func sysSocketError(fd int) syscall.Errno {
	value, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err.(syscall.Errno)
	}
	return syscall.Errno(value)
}

func sysShutdown(fd, how int) syscall.Errno {
	_, _, errno := unix.Syscall(unix.SYS_SHUTDOWN, uintptr(fd), uintptr(how), 0)
	return errno
}

func sysClose(fd int) syscall.Errno {
	_, _, errno := unix.Syscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	return errno
}

func sysRead(fd int, buf []byte) (int, syscall.Errno) {
	n, _, errno := unix.Syscall(unix.SYS_READ, uintptr(fd), bufferPointer(buf), uintptr(len(buf)))
	return int(n), errno
}

func sysWrite(fd int, buf []byte) (int, syscall.Errno) {
	n, _, errno := unix.Syscall(unix.SYS_WRITE, uintptr(fd), bufferPointer(buf), uintptr(len(buf)))
	return int(n), errno
}

func sysPread(fd int, buf []byte, offset int64) (int, syscall.Errno) {
	n, err := unix.Pread(fd, buf, offset) // x/sys splits the offset on 32-bit systems
	return n, errnoOf(err)
}

func sysPwrite(fd int, buf []byte, offset int64) (int, syscall.Errno) {
	n, err := unix.Pwrite(fd, buf, offset)
	return n, errnoOf(err)
}

// sysReadv and sysWritev pass the Completion's own iovec array. preadv's
// offset travels as two words, low and high, whatever the word size (the
// kernel ignores the high word on 64-bit systems).
func sysReadv(fd int, iovecs []unix.Iovec, _ [][]byte, offset int64) (int, syscall.Errno) {
	return vectored(unix.SYS_READV, unix.SYS_PREADV, fd, iovecs, offset)
}

func sysWritev(fd int, iovecs []unix.Iovec, _ [][]byte, offset int64) (int, syscall.Errno) {
	return vectored(unix.SYS_WRITEV, unix.SYS_PWRITEV, fd, iovecs, offset)
}

func vectored(atPosition, atOffset uintptr, fd int, iovecs []unix.Iovec, offset int64) (int, syscall.Errno) {
	iov, count := uintptr(unsafe.Pointer(unsafe.SliceData(iovecs))), uintptr(len(iovecs))
	var n uintptr
	var errno syscall.Errno
	if offset < 0 {
		n, _, errno = unix.Syscall(atPosition, uintptr(fd), iov, count)
	} else {
		low, high := uintptr(offset), uintptr(uint64(offset)>>32)
		n, _, errno = unix.Syscall6(atOffset, uintptr(fd), iov, count, low, high, 0)
	}
	return int(n), errno
}

func sysFsync(fd int, datasync bool) syscall.Errno {
	if datasync {
		return errnoOf(unix.Fdatasync(fd))
	}
	return errnoOf(unix.Fsync(fd))
}

func sysOpenat(dirfd int, pathNUL []byte, flags int, mode uint32) (int, syscall.Errno) {
	fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), bufferPointer(pathNUL), uintptr(flags), uintptr(mode), 0, 0)
	return int(fd), errno
}

func sysStatx(dirfd int, pathNUL []byte, flags, mask int, stat *unix.Statx_t) syscall.Errno {
	_, _, errno := unix.Syscall6(unix.SYS_STATX, uintptr(dirfd), bufferPointer(pathNUL), uintptr(flags), uintptr(mask),
		uintptr(unsafe.Pointer(stat)), 0)
	return errno
}

// sysWriteDurable and sysWritevDurable are Write and Writev with RWF_DSYNC
// (DataSync) or RWF_SYNC (FileSync): pwritev2(2) makes the data durable
// before it returns, in one system call, as io_uring's rw_flags do, and
// fails if the sync fails. Offset -1 writes at the current position and
// advances it, as pwritev2 defines.
func sysWriteDurable(fd int, buf []byte, offset int64, d Durability) (int, syscall.Errno) {
	var one [1]unix.Iovec
	one[0].Base = unsafe.SliceData(buf)
	one[0].SetLen(len(buf))
	return pwritev2(fd, one[:], offset, durableRWF(d))
}

func sysWritevDurable(fd int, iovecs []unix.Iovec, _ [][]byte, offset int64, d Durability) (int, syscall.Errno) {
	return pwritev2(fd, iovecs, offset, durableRWF(d))
}

func durableRWF(d Durability) int {
	if d == FileSync {
		return unix.RWF_SYNC
	}
	return unix.RWF_DSYNC
}

// pwritev2Observed, when set (by whitebox tests only, before the loop
// starts its workers), sees the flags of every durable pwritev2.
var pwritev2Observed func(flags int)

// pwritev2 passes the offset as two words, low and high, like preadv
// (-1 is all ones in both).
func pwritev2(fd int, iovecs []unix.Iovec, offset int64, flags int) (int, syscall.Errno) {
	if pwritev2Observed != nil {
		pwritev2Observed(flags)
	}
	iov, count := uintptr(unsafe.Pointer(unsafe.SliceData(iovecs))), uintptr(len(iovecs))
	low, high := uintptr(offset), uintptr(uint64(offset)>>32)
	n, _, errno := unix.Syscall6(unix.SYS_PWRITEV2, uintptr(fd), iov, count, low, high, uintptr(flags))
	return int(n), errno
}

// The file-system operations, as io_uring's opcodes perform them.

func sysFallocate(fd int, mode uint32, offset, length int64) syscall.Errno {
	return errnoOf(unix.Fallocate(fd, mode, offset, length))
}

func sysFtruncate(fd int, length int64) syscall.Errno {
	return errnoOf(unix.Ftruncate(fd, length))
}

func sysFadvise(fd int, offset, length int64, advice int) syscall.Errno {
	return errnoOf(unix.Fadvise(fd, offset, length, advice))
}

func sysSyncFileRange(fd int, offset, length int64, flags int) syscall.Errno {
	return errnoOf(unix.SyncFileRange(fd, offset, length, flags))
}

// sysRenameat is renameat2(2): RenameNoReplace and RenameExchange are
// RENAME_NOREPLACE and RENAME_EXCHANGE.
func sysRenameat(oldDirFD int, oldNUL []byte, newDirFD int, newNUL []byte, flags uint32) syscall.Errno {
	_, _, errno := unix.Syscall6(unix.SYS_RENAMEAT2, uintptr(oldDirFD), bufferPointer(oldNUL),
		uintptr(newDirFD), bufferPointer(newNUL), uintptr(flags), 0)
	return errno
}

func sysLinkat(oldDirFD int, oldNUL []byte, newDirFD int, newNUL []byte, flags int) syscall.Errno {
	_, _, errno := unix.Syscall6(unix.SYS_LINKAT, uintptr(oldDirFD), bufferPointer(oldNUL),
		uintptr(newDirFD), bufferPointer(newNUL), uintptr(flags), 0)
	return errno
}

func sysUnlinkat(dirFD int, pathNUL []byte, flags int) syscall.Errno {
	_, _, errno := unix.Syscall(unix.SYS_UNLINKAT, uintptr(dirFD), bufferPointer(pathNUL), uintptr(flags))
	return errno
}

func sysMkdirat(dirFD int, pathNUL []byte, mode uint32) syscall.Errno {
	_, _, errno := unix.Syscall(unix.SYS_MKDIRAT, uintptr(dirFD), bufferPointer(pathNUL), uintptr(mode))
	return errno
}

func sysSymlinkat(targetNUL []byte, newDirFD int, linkNUL []byte) syscall.Errno {
	_, _, errno := unix.Syscall(unix.SYS_SYMLINKAT, bufferPointer(targetNUL), uintptr(newDirFD), bufferPointer(linkNUL))
	return errno
}
