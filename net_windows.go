package ioloop

import (
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Sockets on Windows. A SOCKET travels through the API as its `fd int`,
// like a file HANDLE (OpenAt): the handle's value, converted. Every socket
// these functions make is an overlapped Winsock socket
// (WSA_FLAG_OVERLAPPED), not inheritable (WSA_FLAG_NO_HANDLE_INHERIT, the
// Windows form of close-on-exec), which the IOCP backend associates with
// its completion port on first use. A socket made elsewhere must be
// overlapped too (Go's net package and WSASocket's default are).

// ListenOptions configures ListenTCP.
type ListenOptions struct {
	// Backlog is the listen(2) backlog; 0 or negative means SOMAXCONN.
	Backlog int
	// ReusePort has no Windows equivalent (SO_REUSEADDR there lets another
	// socket steal the port): ListenTCP fails with EOPNOTSUPP if it is set.
	ReusePort bool
	// NoDelay sets TCP_NODELAY on the listening socket; accepted
	// connections inherit it.
	NoDelay bool
}

// wsaStartup makes sure Winsock is initialized (Go's runtime does it for
// package net; ioloop does not rely on that).
var wsaStartup = sync.OnceValue(func() error {
	var data windows.WSAData
	return windows.WSAStartup(0x202, &data)
})

// newStreamSocket creates an overlapped TCP socket of the family.
func newStreamSocket(family int) (int, error) {
	return newSocket(family, windows.SOCK_STREAM, windows.IPPROTO_TCP)
}

func newSocket(family, typ, proto int) (int, error) {
	if err := wsaStartup(); err != nil {
		return -1, windowsCallError(err)
	}
	s, err := windows.WSASocket(int32(family), int32(typ), int32(proto), nil, 0,
		windows.WSA_FLAG_OVERLAPPED|windows.WSA_FLAG_NO_HANDLE_INHERIT)
	if err != nil {
		return -1, windowsCallError(err)
	}
	noteHandleBorn(s)
	if family == windows.AF_INET6 {
		// Dual-stack, as Linux's default: an IPv6 socket also reaches
		// IPv4-mapped addresses. Windows makes IPv6 sockets IPv6-only.
		if err := windows.SetsockoptInt(s, windows.IPPROTO_IPV6, windows.IPV6_V6ONLY, 0); err != nil {
			windows.Closesocket(s)
			return -1, windowsCallError(err)
		}
	}
	return int(s), nil
}

// ListenTCP opens an overlapped TCP socket listening on addr and returns
// it with the address it is bound to (useful with port 0). SO_REUSEADDR is
// not set: on Windows it would let another socket bind the same port.
func ListenTCP(addr netip.AddrPort, opts ListenOptions) (fd int, bound netip.AddrPort, err error) {
	if !addr.IsValid() {
		return -1, netip.AddrPort{}, syscall.EINVAL
	}
	if opts.ReusePort {
		return -1, netip.AddrPort{}, syscall.EOPNOTSUPP
	}
	fd, err = newStreamSocket(familyOf(addr))
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	if err = setupListener(fd, addr, opts); err != nil {
		windows.Closesocket(windows.Handle(fd))
		return -1, netip.AddrPort{}, err
	}
	if bound, err = LocalAddr(fd); err != nil {
		windows.Closesocket(windows.Handle(fd))
		return -1, netip.AddrPort{}, err
	}
	return fd, bound, nil
}

func setupListener(fd int, addr netip.AddrPort, opts ListenOptions) error {
	s := windows.Handle(fd)
	if opts.NoDelay {
		if err := windows.SetsockoptInt(s, windows.IPPROTO_TCP, windows.TCP_NODELAY, 1); err != nil {
			return windowsCallError(err)
		}
	}
	if err := bindRaw(s, addr); err != nil {
		return err
	}
	backlog := opts.Backlog
	if backlog <= 0 {
		backlog = windows.SOMAXCONN
	}
	return windowsCallError(windows.Listen(s, backlog))
}

// bindRaw binds s to addr through the raw sockaddr, as Connect encodes it.
func bindRaw(s windows.Handle, addr netip.AddrPort) error {
	var raw windows.RawSockaddrAny
	size, errno := encodeInetSockaddr(addr, &raw)
	if errno != 0 {
		return errno
	}
	r, _, e := procBind.Call(uintptr(s), uintptr(unsafe.Pointer(&raw)), uintptr(size))
	if int32(r) != 0 {
		return windowsCallError(e)
	}
	return nil
}

var (
	ws2_32   = windows.NewLazySystemDLL("ws2_32.dll")
	procBind = ws2_32.NewProc("bind")
)

// TCPSocket opens an overlapped TCP socket of addr's family (IPv4 or IPv6;
// only the family of addr matters), with TCP_NODELAY set, ready for
// Connect.
func TCPSocket(addr netip.AddrPort) (fd int, err error) {
	if !addr.IsValid() {
		return -1, syscall.EINVAL
	}
	fd, err = newStreamSocket(familyOf(addr))
	if err != nil {
		return -1, err
	}
	if err = windows.SetsockoptInt(windows.Handle(fd), windows.IPPROTO_TCP, windows.TCP_NODELAY, 1); err != nil {
		windows.Closesocket(windows.Handle(fd))
		return -1, windowsCallError(err)
	}
	return fd, nil
}

// SetNoDelay sets or clears TCP_NODELAY on the socket fd.
func SetNoDelay(fd int, noDelay bool) error {
	value := 0
	if noDelay {
		value = 1
	}
	return windowsCallError(windows.SetsockoptInt(windows.Handle(fd), windows.IPPROTO_TCP, windows.TCP_NODELAY, value))
}

func familyOf(addr netip.AddrPort) int {
	if addr.Addr().Is4() {
		return windows.AF_INET
	}
	return windows.AF_INET6
}

// LocalAddr returns the address the socket fd is bound to.
func LocalAddr(fd int) (netip.AddrPort, error) {
	if !isSocket(windows.Handle(fd)) {
		return netip.AddrPort{}, notSocketErrno(windows.Handle(fd))
	}
	sa, err := windows.Getsockname(windows.Handle(fd))
	if err != nil {
		return netip.AddrPort{}, windowsCallError(err)
	}
	return addrPortFromSockaddr(sa), nil
}

// RemoteAddr returns the address of the socket fd's peer.
func RemoteAddr(fd int) (netip.AddrPort, error) {
	if !isSocket(windows.Handle(fd)) {
		return netip.AddrPort{}, notSocketErrno(windows.Handle(fd))
	}
	sa, err := windows.Getpeername(windows.Handle(fd))
	if err != nil {
		return netip.AddrPort{}, windowsCallError(err)
	}
	return addrPortFromSockaddr(sa), nil
}

func addrPortFromSockaddr(sa windows.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *windows.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *windows.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			ip = ip.WithZone(strconv.FormatUint(uint64(sa.ZoneId), 10))
		}
		return netip.AddrPortFrom(ip, uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// soType is SO_TYPE, which x/sys/windows lacks.
const soType = 0x1008

// isSocket reports whether h is a Winsock socket (getsockopt answers only
// for sockets).
func isSocket(h windows.Handle) bool {
	var typ int32
	size := int32(unsafe.Sizeof(typ))
	return windows.Getsockopt(h, windows.SOL_SOCKET, soType, (*byte)(unsafe.Pointer(&typ)), &size) == nil
}

// notSocketErrno is the error of a socket operation on h, which is no
// socket: ENOTSOCK for an open handle (a file), EBADF for none, as on Unix.
func notSocketErrno(h windows.Handle) syscall.Errno {
	if _, err := windows.GetFileType(h); err != nil {
		return syscall.EBADF
	}
	return syscall.ENOTSOCK
}

// UDPOptions configures ListenUDP. The zero value binds a plain socket
// with the system's default buffer sizes.
type UDPOptions struct {
	// ReusePort has no Windows equivalent: ListenUDP fails with EOPNOTSUPP
	// if it is set.
	ReusePort bool
	// ReceiveBufferBytes and SendBufferBytes set SO_RCVBUF and SO_SNDBUF
	// when positive.
	ReceiveBufferBytes, SendBufferBytes int
}

// ListenUDP opens an overlapped UDP socket bound to addr and returns it
// with the address it is bound to. The IOCP backend runs SendTo and
// RecvFrom, and SendMsg and RecvMsg without control data (a non-empty oob
// fails with EOPNOTSUPP).
func ListenUDP(addr netip.AddrPort, opts UDPOptions) (fd int, bound netip.AddrPort, err error) {
	if !addr.IsValid() {
		return -1, netip.AddrPort{}, syscall.EINVAL
	}
	if opts.ReusePort {
		return -1, netip.AddrPort{}, syscall.EOPNOTSUPP
	}
	if fd, err = UDPSocket(addr); err != nil {
		return -1, netip.AddrPort{}, err
	}
	s := windows.Handle(fd)
	fail := func(err error) (int, netip.AddrPort, error) {
		windows.Closesocket(s)
		return -1, netip.AddrPort{}, err
	}
	if opts.ReceiveBufferBytes > 0 {
		if err := windows.SetsockoptInt(s, windows.SOL_SOCKET, windows.SO_RCVBUF, opts.ReceiveBufferBytes); err != nil {
			return fail(windowsCallError(err))
		}
	}
	if opts.SendBufferBytes > 0 {
		if err := windows.SetsockoptInt(s, windows.SOL_SOCKET, windows.SO_SNDBUF, opts.SendBufferBytes); err != nil {
			return fail(windowsCallError(err))
		}
	}
	if err := bindRaw(s, addr); err != nil {
		return fail(err)
	}
	if bound, err = LocalAddr(fd); err != nil {
		return fail(err)
	}
	return fd, bound, nil
}

// UDPSocket opens an overlapped UDP socket of addr's family, not bound.
func UDPSocket(addr netip.AddrPort) (fd int, err error) {
	if !addr.IsValid() {
		return -1, syscall.EINVAL
	}
	fd, err = newSocket(familyOf(addr), windows.SOCK_DGRAM, windows.IPPROTO_UDP)
	if err != nil {
		return -1, err
	}
	// Windows reports an ICMP port unreachable to the next receive of an
	// unconnected UDP socket as WSAECONNRESET; Linux and the BSDs report
	// ICMP errors only to connected sockets. SIO_UDP_CONNRESET off makes
	// Windows do the same (Go's net package does it too).
	off := uint32(0)
	var n uint32
	if err := windows.WSAIoctl(windows.Handle(fd), sioUDPConnReset, (*byte)(unsafe.Pointer(&off)),
		uint32(unsafe.Sizeof(off)), nil, 0, &n, nil, 0); err != nil {
		windows.Closesocket(windows.Handle(fd))
		return -1, windowsCallError(err)
	}
	return fd, nil
}

// sioUDPConnReset is SIO_UDP_CONNRESET (_WSAIOW(IOC_VENDOR, 12)).
const sioUDPConnReset = 0x9800000C

// ListenUDP opens a UDP socket bound to addr, like the package function
// ListenUDP. On the simulator, addr must be the node's address, a
// wildcard or loopback.
func (l *Loop) ListenUDP(addr netip.AddrPort, opts UDPOptions) (fd int, bound netip.AddrPort, err error) {
	return l.backend.listenUDP(addr, opts)
}

// UDPSocket opens an unbound UDP socket of addr's family, like the package
// function UDPSocket.
func (l *Loop) UDPSocket(addr netip.AddrPort) (fd int, err error) { return l.backend.udpSocket(addr) }
