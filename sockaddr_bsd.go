//go:build darwin || freebsd || netbsd || openbsd

package ioloop

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// abstractUnixNamespace: the BSDs and macOS have no unix socket addresses
// outside the file system, so a path starting with '@' is just a path.
const abstractUnixNamespace = false

// setSockaddrLen fills the length byte that BSD sockaddrs carry in front
// of their one-byte family.
func setSockaddrLen(raw *unix.RawSockaddrAny, size uint32) {
	raw.Addr.Len = uint8(size)
}

// sockaddrFromRaw turns an address encoded by encodeInetSockaddr or
// encodeUnixSockaddr back into x/sys's form, because x/sys offers connect
// only for a unix.Sockaddr (allocating; see sysConnect).
func sockaddrFromRaw(raw *unix.RawSockaddrAny, size uint32) (unix.Sockaddr, syscall.Errno) {
	switch raw.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		return &unix.SockaddrInet4{Port: int(getPort(&sa.Port)), Addr: sa.Addr}, 0
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		return &unix.SockaddrInet6{Port: int(getPort(&sa.Port)), ZoneId: sa.Scope_id, Addr: sa.Addr}, 0
	case unix.AF_UNIX:
		sa := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
		pathLen := int(size) - int(unsafe.Offsetof(sa.Path)) - 1 // without the NUL
		if pathLen <= 0 || pathLen >= len(sa.Path) {
			return nil, syscall.EINVAL
		}
		path := unsafe.Slice((*byte)(unsafe.Pointer(&sa.Path[0])), pathLen)
		return &unix.SockaddrUnix{Name: string(path)}, 0
	}
	return nil, syscall.EAFNOSUPPORT
}
