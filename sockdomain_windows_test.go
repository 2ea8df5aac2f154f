package ioloop

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// socketDomain returns a socket's address family, from its protocol
// information (SO_PROTOCOL_INFOW, which answers for an unbound socket too,
// where getsockname fails), with the values of sysAF_INET and sysAF_INET6
// (sockdomain_test.go has Unix's).
func socketDomain(fd int) (int, error) {
	var info windows.WSAProtocolInfo
	size := int32(unsafe.Sizeof(info))
	if err := windows.Getsockopt(windows.Handle(fd), windows.SOL_SOCKET, soProtocolInfoW, (*byte)(unsafe.Pointer(&info)), &size); err != nil {
		return 0, windowsErrno(err)
	}
	return int(info.AddressFamily), nil
}

// soProtocolInfoW is SO_PROTOCOL_INFOW, which x/sys/windows lacks.
const soProtocolInfoW = 0x2005

// listenersReuseAddr: ListenTCP sets SO_REUSEADDR. Not on Windows, where
// it would let another socket take the port (and where a listener's port
// in TIME_WAIT can be bound again without it).
const listenersReuseAddr = false

// Socket options the portable tests read (sockoptInt). Windows has no
// SO_REUSEPORT (ReusePort is refused there with EOPNOTSUPP); the value is
// never read.
const (
	testSOL_SOCKET    = windows.SOL_SOCKET
	testSO_ACCEPTCONN = 0x0002 // SO_ACCEPTCONN, which x/sys/windows lacks
	testSO_REUSEADDR  = windows.SO_REUSEADDR
	testSO_REUSEPORT  = -1
	testIPPROTO_TCP   = windows.IPPROTO_TCP
	testTCP_NODELAY   = windows.TCP_NODELAY
)

// sockoptInt is getsockopt of an int option (a BOOL or DWORD on Windows).
func sockoptInt(fd, level, opt int) (int, error) {
	v, err := windows.GetsockoptInt(windows.Handle(fd), level, opt)
	if err != nil {
		return 0, windowsErrno(err)
	}
	return v, nil
}

// bindLoopback4 binds the IPv4 socket fd to 127.0.0.1, a port the system
// picks.
func bindLoopback4(fd int) error {
	return windowsErrnoOrNil(windows.Bind(windows.Handle(fd), &windows.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
}
