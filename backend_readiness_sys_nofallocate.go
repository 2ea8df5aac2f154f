//go:build netbsd || openbsd

package ioloop

import "syscall"

// sysFallocate: OpenBSD has no posix_fallocate, and NetBSD's fails with
// EOPNOTSUPP on its own filesystems (FFS implements no VOP_FALLOCATE), so
// Fallocate fails with ENOTSUP rather than pretend: extending with
// Ftruncate would give the size without reserving the space, and a later
// write could still fail with ENOSPC.
func sysFallocate(int, uint32, int64, int64) syscall.Errno { return syscall.ENOTSUP }

// sysFadviseOS: OpenBSD has no posix_fadvise. NetBSD's returns its error
// as the call's value and x/sys's wrapper lays out its padded arguments
// for 32-bit systems only; a hint is not worth a hand-made system call,
// so Fadvise stops at sysFadvise's check on both.
func sysFadviseOS(int, int64, int64, int) syscall.Errno { return 0 }
