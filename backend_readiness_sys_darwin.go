package ioloop

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// The system calls in which macOS differs from the BSDs (backend_readiness_sys_bsd.go has
// the common ones).

// sendFlags: MSG_DONTWAIT, so that a blocking socket cannot block the
// loop. macOS's send(2) has no documented MSG_NOSIGNAL to rely on; the
// sockets this package creates or accepts carry SO_NOSIGPIPE instead
// (prepareSocket), so a peer that went away yields EPIPE. A socket made
// elsewhere needs SO_NOSIGPIPE too to be spared the signal (which Go's
// runtime ignores for descriptors other than 1 and 2).
const sendFlags = unix.MSG_DONTWAIT

func sysSend(fd int, buf []byte) (int, syscall.Errno) {
	return countOf(unix.SendmsgN(fd, buf, nil, nil, sendFlags))
}

// sysAccept has no accept4 to use: the new socket is made close-on-exec
// under syscall.ForkLock, as Go's net package does on macOS, then
// non-blocking and SO_NOSIGPIPE. x/sys allocates the peer's address.
func sysAccept(listenFD int) (int, syscall.Errno) {
	syscall.ForkLock.RLock()
	fd, _, err := unix.Accept(listenFD)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, errnoOf(err)
	}
	if err := prepareSocket(fd); err != nil {
		unix.Close(fd)
		return -1, errnoOf(err)
	}
	return fd, 0
}

// sysReadv and sysWritev use x/sys's readv/preadv wrappers, which build
// their own iovec array from bufs (an allocation per call) instead of
// taking the Completion's.
func sysReadv(fd int, _ []unix.Iovec, bufs [][]byte, offset int64) (int, syscall.Errno) {
	if offset < 0 {
		return countOf(unix.Readv(fd, bufs))
	}
	return countOf(unix.Preadv(fd, bufs, offset))
}

func sysWritev(fd int, _ []unix.Iovec, bufs [][]byte, offset int64) (int, syscall.Errno) {
	if offset < 0 {
		return countOf(unix.Writev(fd, bufs))
	}
	return countOf(unix.Pwritev(fd, bufs, offset))
}

// sysFsync uses fcntl(F_FULLFSYNC) for Fsync and Fdatasync alike: macOS's
// fsync(2) (and its undocumented fdatasync) hands the data to the drive
// but does not make the drive flush its cache, so neither survives a power
// loss; F_FULLFSYNC does. Filesystems that lack it (some network mounts)
// answer ENOTSUP and get fsync(2), as in Go's os.File.Sync.
func sysFsync(fd int, _ bool) syscall.Errno {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_FULLFSYNC, 0)
	if err == syscall.ENOTSUP {
		err = unix.Fsync(fd)
	}
	return errnoOf(err)
}

// sysRenameat is renameatx_np(2) where flags ask for more than rename(2):
// RenameNoReplace is RENAME_EXCL and RenameExchange RENAME_SWAP.
// Filesystems without them (not APFS or HFS+) answer ENOTSUP.
func sysRenameat(oldDirFD int, oldNUL []byte, newDirFD int, newNUL []byte, flags uint32) syscall.Errno {
	if flags == 0 {
		return errnoOf(unix.Renameat(oldDirFD, pathString(oldNUL), newDirFD, pathString(newNUL)))
	}
	if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
		return syscall.EINVAL // as renameat2(2) answers
	}
	native := uint32(unix.RENAME_EXCL)
	if flags == RenameExchange {
		native = unix.RENAME_SWAP
	}
	return errnoOf(unix.RenameatxNp(oldDirFD, pathString(oldNUL), newDirFD, pathString(newNUL), native))
}

// sysFallocate emulates mode 0 (allocate, and extend the file) with
// fcntl(F_PREALLOCATE), which reserves blocks past the file's physical
// end, then ftruncate to the new size, as Firefox and LLVM do: macOS has
// no fallocate(2) and no posix_fallocate(3). Blocks inside the file's
// current size are not allocated (F_PREALLOCATE cannot fill holes), and
// the other modes (Linux's FALLOC_FL_* bits) fail with ENOTSUP.
func sysFallocate(fd int, mode uint32, offset, length int64) syscall.Errno {
	if mode != 0 {
		return syscall.ENOTSUP
	}
	end := offset + length
	if end < 0 {
		return syscall.EFBIG
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return errnoOf(err)
	}
	if end <= st.Size {
		return 0
	}
	// Contiguous if the filesystem can, any blocks otherwise.
	store := unix.Fstore_t{Flags: unix.F_ALLOCATECONTIG | unix.F_ALLOCATEALL, Posmode: unix.F_PEOFPOSMODE, Length: end - st.Size}
	if err := unix.FcntlFstore(uintptr(fd), unix.F_PREALLOCATE, &store); err != nil {
		store.Flags = unix.F_ALLOCATEALL
		if err := unix.FcntlFstore(uintptr(fd), unix.F_PREALLOCATE, &store); err != nil {
			return errnoOf(err)
		}
	}
	return errnoOf(unix.Ftruncate(fd, end))
}

// sysFadviseOS: macOS has no posix_fadvise (F_RDADVISE only schedules a
// read-ahead); Fadvise is a hint, and stops at sysFadvise's check.
func sysFadviseOS(int, int64, int64, int) syscall.Errno { return 0 }
