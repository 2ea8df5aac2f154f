package ioloop

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// encodeInetSockaddr writes addr as a Winsock sockaddr_in or sockaddr_in6
// into raw, for ConnectEx and bind, and returns its length.
func encodeInetSockaddr(addr netip.AddrPort, raw *windows.RawSockaddrAny) (uint32, syscall.Errno) {
	ip := addr.Addr()
	if !ip.IsValid() {
		return 0, syscall.EINVAL
	}
	*raw = windows.RawSockaddrAny{}
	port := addr.Port()
	if ip.Is4() {
		sa := (*windows.RawSockaddrInet4)(unsafe.Pointer(raw))
		sa.Family = windows.AF_INET
		putPort(&sa.Port, port)
		sa.Addr = ip.As4()
		return uint32(unsafe.Sizeof(*sa)), 0
	}
	sa := (*windows.RawSockaddrInet6)(unsafe.Pointer(raw))
	sa.Family = windows.AF_INET6
	putPort(&sa.Port, port)
	sa.Addr = ip.As16()
	if zone := ip.Zone(); zone != "" {
		scope, errno := zoneIndex(zone)
		if errno != 0 {
			return 0, errno
		}
		sa.Scope_id = scope
	}
	return uint32(unsafe.Sizeof(*sa)), 0
}

// zoneIndex resolves an IPv6 zone (a number or an interface name).
func zoneIndex(zone string) (uint32, syscall.Errno) {
	if index, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(index), 0
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, syscall.EINVAL
	}
	return uint32(ifi.Index), 0
}

// putPort stores a port in network byte order.
func putPort(field *uint16, port uint16) {
	bytes := (*[2]byte)(unsafe.Pointer(field))
	bytes[0] = byte(port >> 8)
	bytes[1] = byte(port)
}

func getPort(field *uint16) uint16 {
	bytes := (*[2]byte)(unsafe.Pointer(field))
	return uint16(bytes[0])<<8 | uint16(bytes[1])
}

// encodeUnixSockaddr fails: ioloop has no unix sockets on Windows
// (ConnectUnix gets EAFNOSUPPORT through its callback).
func encodeUnixSockaddr(string, *windows.RawSockaddrAny) (uint32, syscall.Errno) {
	return 0, syscall.EAFNOSUPPORT
}

// addrPortFromRaw decodes a sockaddr_in or sockaddr_in6 of size bytes.
func addrPortFromRaw(raw *windows.RawSockaddrAny, size uint32) netip.AddrPort {
	switch {
	case raw.Addr.Family == windows.AF_INET && size >= uint32(unsafe.Sizeof(windows.RawSockaddrInet4{})):
		sa := (*windows.RawSockaddrInet4)(unsafe.Pointer(raw))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), getPort(&sa.Port))
	case raw.Addr.Family == windows.AF_INET6 && size >= uint32(unsafe.Sizeof(windows.RawSockaddrInet6{})):
		sa := (*windows.RawSockaddrInet6)(unsafe.Pointer(raw))
		ip := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			ip = ip.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(ip, getPort(&sa.Port))
	}
	return netip.AddrPort{}
}
