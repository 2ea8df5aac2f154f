//go:build !windows

package ioloop

import "golang.org/x/sys/unix"

// The system's names that the portable files use, under names that exist
// on every system: here they are x/sys/unix's; sysdefs_windows.go gives
// Windows its own (Linux's values, for the API's vocabulary: OpenAt's flags,
// Shutdown's how). Only the portable files use these; the Unix-only files
// name x/sys/unix directly.
type (
	sysIovec            = unix.Iovec
	sysTimespec         = unix.Timespec
	sysMsghdr           = unix.Msghdr
	sysRawSockaddrAny   = unix.RawSockaddrAny
	sysRawSockaddrInet4 = unix.RawSockaddrInet4
	sysRawSockaddrInet6 = unix.RawSockaddrInet6
)

const (
	sysAF_INET             = unix.AF_INET
	sysAF_INET6            = unix.AF_INET6
	sysSizeofSockaddrAny   = unix.SizeofSockaddrAny
	sysSizeofSockaddrInet6 = unix.SizeofSockaddrInet6
	sysMSG_TRUNC           = unix.MSG_TRUNC
	sysSHUT_RD             = unix.SHUT_RD
	sysSHUT_WR             = unix.SHUT_WR
	sysSHUT_RDWR           = unix.SHUT_RDWR
	sysAT_FDCWD            = unix.AT_FDCWD
	sysAT_REMOVEDIR        = unix.AT_REMOVEDIR
	sysAT_SYMLINK_FOLLOW   = unix.AT_SYMLINK_FOLLOW
	sysO_RDONLY            = unix.O_RDONLY
	sysO_WRONLY            = unix.O_WRONLY
	sysO_RDWR              = unix.O_RDWR
	sysO_CREAT             = unix.O_CREAT
	sysO_EXCL              = unix.O_EXCL
	sysO_TRUNC             = unix.O_TRUNC
	sysO_APPEND            = unix.O_APPEND
	sysO_DIRECTORY         = unix.O_DIRECTORY
	sysO_NOFOLLOW          = unix.O_NOFOLLOW
	sysO_CLOEXEC           = unix.O_CLOEXEC
)

func sysNsecToTimespec(ns int64) sysTimespec { return unix.NsecToTimespec(ns) }

// sysFcntlGetfd is fcntl(fd, F_GETFD): it fails (EBADF) when fd is not open.
func sysFcntlGetfd(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0) }

func sysCloseFD(fd int) error { return unix.Close(fd) }
