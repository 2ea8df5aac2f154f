package ioloop

import (
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// FreeBSD's posix_fallocate(2) and posix_fadvise(2) return their error as
// the call's value, not in errno (x/sys's Fadvise misses it), so they are
// called directly. Both take 64-bit offsets, which travel as one word on
// 64-bit systems; 32-bit FreeBSD splits them by an ABI rule per
// architecture, and there Fallocate answers ENOTSUP and Fadvise is
// checked (sysFadvise) but not passed on.

// sysFallocate is posix_fallocate for mode 0; the other modes (Linux's
// FALLOC_FL_* bits) fail with ENOTSUP. ZFS answers EINVAL, as
// posix_fallocate(2) documents.
func sysFallocate(fd int, mode uint32, offset, length int64) syscall.Errno {
	if mode != 0 || strconv.IntSize != 64 {
		return syscall.ENOTSUP
	}
	return posixResult(unix.Syscall(unix.SYS_POSIX_FALLOCATE, uintptr(fd), uintptr(offset), uintptr(length)))
}

func sysFadviseOS(fd int, offset, length int64, advice int) syscall.Errno {
	if strconv.IntSize != 64 {
		return 0
	}
	return posixResult(unix.Syscall6(unix.SYS_POSIX_FADVISE, uintptr(fd), uintptr(offset), uintptr(length), uintptr(advice), 0, 0))
}

// posixResult reads the error of a posix_* system call from its value.
func posixResult(r, _ uintptr, errno syscall.Errno) syscall.Errno {
	if errno != 0 {
		return errno
	}
	return syscall.Errno(r)
}
