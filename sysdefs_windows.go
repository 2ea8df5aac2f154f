package ioloop

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// The names the portable files use for the system's types and constants
// (sysdefs_unix.go gives them x/sys/unix's values). On Windows the
// vocabulary of the API stays the one of the other systems: OpenAt takes
// open(2) flags, Shutdown takes SHUT_RD/SHUT_WR/SHUT_RDWR, with Linux's
// values, which are also the values of package syscall's O_* and SHUT_*
// constants on Windows; the IOCP backend maps them to CreateFile's and
// shutdown's (backend_iocp_windows.go). Sockaddrs are Winsock's own
// layouts (AF_INET6 is 23), since the kernel reads them.
type (
	sysTimespec         = windows.Timespec
	sysRawSockaddrAny   = windows.RawSockaddrAny
	sysRawSockaddrInet4 = windows.RawSockaddrInet4
	sysRawSockaddrInet6 = windows.RawSockaddrInet6
)

// sysIovec is Readv's and Writev's buffer list as the portable code builds
// it (Linux's struct iovec); the IOCP backend reads the buffers from
// rareArgs.bufs, so nothing on Windows hands this to the kernel.
type sysIovec struct {
	Base *byte
	Len  uint64
}

// SetLen sets the length, as unix.Iovec's does.
func (v *sysIovec) SetLen(n int) { v.Len = uint64(n) }

// sysMsghdr is the message header the portable code of SendTo, RecvFrom,
// SendMsg and RecvMsg builds (Linux's struct msghdr, field for field). The
// IOCP backend does not run those operations (they are refused with
// EOPNOTSUPP), so no kernel sees it; the simulator reads and writes it.
type sysMsghdr struct {
	Name       *byte
	Namelen    uint32
	Iov        *sysIovec
	Iovlen     uint64
	Control    *byte
	Controllen uint64
	Flags      int32
}

// SetIovlen sets the iovec count, as unix.Msghdr's does.
func (m *sysMsghdr) SetIovlen(n int) { m.Iovlen = uint64(n) }

// SetControllen sets the control buffer's length, as unix.Msghdr's does.
func (m *sysMsghdr) SetControllen(n int) { m.Controllen = uint64(n) }

const (
	sysAF_INET           = windows.AF_INET
	sysAF_INET6          = windows.AF_INET6
	sysSizeofSockaddrAny = uint32(unsafe.Sizeof(windows.RawSockaddrAny{}))
	// sysSizeofSockaddrInet6 is sizeof(SOCKADDR_IN6), untyped as x/sys/unix's
	// (checked against the type below).
	sysSizeofSockaddrInet6 = 28
	sysMSG_TRUNC           = 0x20 // Linux's; the simulator reports it
	sysSHUT_RD             = windows.SHUT_RD
	sysSHUT_WR             = windows.SHUT_WR
	sysSHUT_RDWR           = windows.SHUT_RDWR
	// sysAT_FDCWD is Linux's AT_FDCWD: OpenAt relative to the working
	// directory. On Windows it is the only directory OpenAt accepts
	// besides an absolute path.
	sysAT_FDCWD          = -100
	sysAT_REMOVEDIR      = 0x200
	sysAT_SYMLINK_FOLLOW = 0x400
	sysO_RDONLY          = windows.O_RDONLY
	sysO_WRONLY          = windows.O_WRONLY
	sysO_RDWR            = windows.O_RDWR
	sysO_CREAT           = windows.O_CREAT
	sysO_EXCL            = windows.O_EXCL
	sysO_TRUNC           = windows.O_TRUNC
	sysO_APPEND          = windows.O_APPEND
	sysO_DIRECTORY       = 0x10000 // Linux's values: Windows has no such flags
	sysO_NOFOLLOW        = 0x20000
	sysO_DIRECT          = 0x4000
	// sysO_DSYNC is Linux's O_DSYNC, a bit of its O_SYNC (0x101000), and
	// the value of syscall.O_SYNC on Windows: either asks for
	// FILE_FLAG_WRITE_THROUGH.
	sysO_DSYNC   = 0x1000
	sysO_CLOEXEC = windows.O_CLOEXEC
)

// Compile-time check: sysSizeofSockaddrInet6 is windows.RawSockaddrInet6's size.
var (
	_ [sysSizeofSockaddrInet6 - unsafe.Sizeof(windows.RawSockaddrInet6{})]struct{}
	_ [unsafe.Sizeof(windows.RawSockaddrInet6{}) - sysSizeofSockaddrInet6]struct{}
)

func sysNsecToTimespec(ns int64) sysTimespec { return windows.NsecToTimespec(ns) }

// sysFcntlGetfd stands for fcntl(F_GETFD): it fails with EBADF when fd is
// no open handle or socket (GetFileType answers for both).
func sysFcntlGetfd(fd int) (int, error) {
	if _, err := windows.GetFileType(windows.Handle(fd)); err != nil {
		return -1, windowsErrno(err)
	}
	return 0, nil
}

// sysCloseFD closes a handle or a socket.
func sysCloseFD(fd int) error {
	if isSocket(windows.Handle(fd)) {
		return windowsErrnoOrNil(windows.Closesocket(windows.Handle(fd)))
	}
	return windowsErrnoOrNil(windows.CloseHandle(windows.Handle(fd)))
}
