//go:build !windows

package ioloop

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// encodeInetSockaddr writes addr into raw as a sockaddr_in (IPv4) or
// sockaddr_in6 (IPv6, including IPv4-mapped addresses, for AF_INET6
// sockets) and returns its length. The kernel reads raw by address, so it
// lives in the Completion, never on a stack.
func encodeInetSockaddr(addr netip.AddrPort, raw *unix.RawSockaddrAny) (uint32, syscall.Errno) {
	ip := addr.Addr()
	if !ip.IsValid() {
		return 0, syscall.EINVAL
	}
	*raw = unix.RawSockaddrAny{}
	port := addr.Port()
	if ip.Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		sa.Family = unix.AF_INET
		putPort(&sa.Port, port)
		sa.Addr = ip.As4()
		setSockaddrLen(raw, unix.SizeofSockaddrInet4)
		return unix.SizeofSockaddrInet4, 0
	}
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
	sa.Family = unix.AF_INET6
	putPort(&sa.Port, port)
	sa.Addr = ip.As16()
	if zone := ip.Zone(); zone != "" {
		scope, err := zoneIndex(zone)
		if err != 0 {
			return 0, err
		}
		sa.Scope_id = scope
	}
	setSockaddrLen(raw, unix.SizeofSockaddrInet6)
	return unix.SizeofSockaddrInet6, 0
}

// zoneIndex resolves an IPv6 zone: a number, or an interface name.
func zoneIndex(zone string) (uint32, syscall.Errno) {
	if index, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(index), 0
	}
	ifIndex, err := interfaceIndex(zone)
	if err != nil {
		return 0, syscall.EINVAL
	}
	return uint32(ifIndex), 0
}

// putPort stores port in network byte order.
func putPort(field *uint16, port uint16) {
	bytes := (*[2]byte)(unsafe.Pointer(field))
	bytes[0] = byte(port >> 8)
	bytes[1] = byte(port)
}

// encodeUnixSockaddr writes a sockaddr_un for path and returns its length.
// On Linux a '@' prefix names the abstract namespace; other systems have
// none, so there '@' is an ordinary first character of a path.
func encodeUnixSockaddr(path string, raw *unix.RawSockaddrAny) (uint32, syscall.Errno) {
	sa := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
	if len(path) == 0 || len(path) >= len(sa.Path) {
		return 0, syscall.EINVAL
	}
	*raw = unix.RawSockaddrAny{}
	sa.Family = unix.AF_UNIX
	for i := 0; i < len(path); i++ {
		sa.Path[i] = int8(path[i])
	}
	size := uint32(unsafe.Offsetof(sa.Path)) + uint32(len(path))
	if abstractUnixNamespace && path[0] == '@' {
		sa.Path[0] = 0 // abstract: no terminating NUL, length is exact
		return size, 0
	}
	size++ // the terminating NUL
	setSockaddrLen(raw, size)
	return size, 0
}

// addrPortFromSockaddr converts what getsockname/getpeername return.
func addrPortFromSockaddr(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			ip = ip.WithZone(strconv.FormatUint(uint64(sa.ZoneId), 10))
		}
		return netip.AddrPortFrom(ip, uint16(sa.Port))
	}
	return netip.AddrPort{}
}

func interfaceIndex(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}

// addrPortFromRaw decodes the sockaddr_in or sockaddr_in6 of size bytes
// the kernel wrote into raw (a datagram's sender); anything else (a unix
// socket's name, no name at all) is the zero AddrPort. It allocates only
// for an IPv6 scope (the zone's string).
func addrPortFromRaw(raw *unix.RawSockaddrAny, size uint32) netip.AddrPort {
	switch {
	case raw.Addr.Family == unix.AF_INET && size >= unix.SizeofSockaddrInet4:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), getPort(&sa.Port))
	case raw.Addr.Family == unix.AF_INET6 && size >= unix.SizeofSockaddrInet6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		ip := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			ip = ip.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(ip, getPort(&sa.Port))
	}
	return netip.AddrPort{}
}

// getPort reads a port stored in network byte order.
func getPort(field *uint16) uint16 {
	bytes := (*[2]byte)(unsafe.Pointer(field))
	return uint16(bytes[0])<<8 | uint16(bytes[1])
}
