//go:build linux

package main

/*
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/un.h>
#include "ioloop_impl.h"
*/
import "C"

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"

	"github.com/ioloop/ioloop"
)

// Sizes of the sockaddrs this file reads and writes.
const (
	sizeofSockaddrIn  = C.sizeof_struct_sockaddr_in
	sizeofSockaddrIn6 = C.sizeof_struct_sockaddr_in6
	sizeofSockaddrUn  = C.sizeof_struct_sockaddr_un
)

// decodeSockaddr reads a C sockaddr: an AF_INET or AF_INET6 address as a
// netip.AddrPort (the IPv6 scope id is dropped: a zone string would
// allocate), or an AF_UNIX path. It reads the bytes directly rather than
// through the C structs, so that nothing here depends on cgo's view of
// their unions.
func decodeSockaddr(p unsafe.Pointer, size uint64) (addr netip.AddrPort, unixPath string, errno syscall.Errno) {
	if p == nil || size < 2 {
		return addr, "", syscall.EINVAL
	}
	b := unsafe.Slice((*byte)(p), int(min(size, C.sizeof_struct_sockaddr_storage)))
	family := *(*uint16)(p) // sa_family_t, in host order
	switch family {
	case syscall.AF_INET:
		if len(b) < sizeofSockaddrIn {
			return addr, "", syscall.EINVAL
		}
		port := binary.BigEndian.Uint16(b[2:4])
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), "", 0
	case syscall.AF_INET6:
		if len(b) < sizeofSockaddrIn6 {
			return addr, "", syscall.EINVAL
		}
		port := binary.BigEndian.Uint16(b[2:4])
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port), "", 0
	case syscall.AF_UNIX:
		path := b[2:]
		for i, ch := range path {
			if ch == 0 {
				path = path[:i]
				break
			}
		}
		if len(path) == 0 {
			return addr, "", syscall.EINVAL
		}
		return addr, unsafe.String(&path[0], len(path)), 0
	}
	return addr, "", syscall.EAFNOSUPPORT
}

// encodeSockaddr writes addr as a sockaddr_in (IPv4, including IPv4-mapped
// IPv6) or sockaddr_in6 into the C buffer p of capacity bytes, and returns
// the sockaddr's length (0 when it does not fit or addr is invalid).
func encodeSockaddr(addr netip.AddrPort, p unsafe.Pointer, capacity uint32) uint32 {
	ip := addr.Addr()
	if !ip.IsValid() {
		return 0
	}
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	size := uint32(sizeofSockaddrIn6)
	if ip.Is4() {
		size = sizeofSockaddrIn
	}
	if capacity < size {
		return 0
	}
	b := unsafe.Slice((*byte)(p), int(size))
	clear(b)
	binary.BigEndian.PutUint16(b[2:4], addr.Port())
	if ip.Is4() {
		*(*uint16)(p) = syscall.AF_INET
		a := ip.As4()
		copy(b[4:8], a[:])
	} else {
		*(*uint16)(p) = syscall.AF_INET6
		a := ip.As16()
		copy(b[8:24], a[:])
	}
	return size
}

// errnoResult converts a helper's error to the negative errno C gets.
func errnoResult(err error) C.int {
	if errno, ok := err.(syscall.Errno); ok {
		return -C.int(errno)
	}
	return -C.int(syscall.EIO)
}

// writeBound writes a bound address for the helpers that report one.
func writeBound(bound netip.AddrPort, out *C.struct_sockaddr_storage, outLen *C.socklen_t) {
	if out != nil {
		*outLen = C.socklen_t(encodeSockaddr(bound, unsafe.Pointer(out), C.sizeof_struct_sockaddr_storage))
	}
}

// inetAddr decodes a helper's address argument, which must be IPv4 or IPv6.
func inetAddr(sa *C.struct_sockaddr, size C.socklen_t) (netip.AddrPort, C.int) {
	addr, path, errno := decodeSockaddr(unsafe.Pointer(sa), uint64(size))
	switch {
	case errno != 0:
		return addr, -C.int(errno)
	case path != "":
		return addr, -C.int(syscall.EAFNOSUPPORT)
	}
	return addr, 0
}

//export ioloopgo_sockaddr_parse
func ioloopgo_sockaddr_parse(text *C.char, out *C.struct_sockaddr_storage, outLen *C.socklen_t) C.int {
	addr, err := netip.ParseAddrPort(C.GoString(text))
	if err != nil {
		return -C.int(syscall.EINVAL)
	}
	size := encodeSockaddr(addr, unsafe.Pointer(out), C.sizeof_struct_sockaddr_storage)
	if size == 0 {
		return -C.int(syscall.EINVAL)
	}
	*outLen = C.socklen_t(size)
	return 0
}

//export ioloopgo_sockaddr_format
func ioloopgo_sockaddr_format(sa *C.struct_sockaddr, size C.socklen_t, buf *C.char, n C.size_t) C.int {
	addr, rc := inetAddr(sa, size)
	if rc != 0 {
		return -C.int(syscall.EAFNOSUPPORT)
	}
	return C.int(copyString(addr.String(), buf, n))
}

//export ioloopgo_listen_tcp
func ioloopgo_listen_tcp(sa *C.struct_sockaddr, size C.socklen_t, backlog C.int, flags C.uint32_t,
	out *C.struct_sockaddr_storage, outLen *C.socklen_t) C.int {
	addr, rc := inetAddr(sa, size)
	if rc != 0 {
		return rc
	}
	fd, bound, err := ioloop.ListenTCP(addr, ioloop.ListenOptions{
		Backlog:   int(backlog),
		ReusePort: flags&C.IOLOOP_LISTEN_REUSEPORT != 0,
		NoDelay:   flags&C.IOLOOP_LISTEN_NODELAY != 0,
	})
	if err != nil {
		return errnoResult(err)
	}
	writeBound(bound, out, outLen)
	return C.int(fd)
}

//export ioloopgo_tcp_socket
func ioloopgo_tcp_socket(sa *C.struct_sockaddr, size C.socklen_t) C.int {
	addr, rc := inetAddr(sa, size)
	if rc != 0 {
		return rc
	}
	fd, err := ioloop.TCPSocket(addr)
	if err != nil {
		return errnoResult(err)
	}
	return C.int(fd)
}

//export ioloopgo_listen_udp
func ioloopgo_listen_udp(sa *C.struct_sockaddr, size C.socklen_t, out *C.struct_sockaddr_storage, outLen *C.socklen_t) C.int {
	addr, rc := inetAddr(sa, size)
	if rc != 0 {
		return rc
	}
	fd, bound, err := ioloop.ListenUDP(addr, ioloop.UDPOptions{})
	if err != nil {
		return errnoResult(err)
	}
	writeBound(bound, out, outLen)
	return C.int(fd)
}

//export ioloopgo_listen_unix
func ioloopgo_listen_unix(path *C.char, backlog C.int) C.int {
	fd, err := ioloop.ListenUnix(C.GoString(path), int(backlog))
	if err != nil {
		return errnoResult(err)
	}
	return C.int(fd)
}

//export ioloopgo_unix_socket
func ioloopgo_unix_socket() C.int {
	fd, err := ioloop.UnixSocket()
	if err != nil {
		return errnoResult(err)
	}
	return C.int(fd)
}
