//go:build !windows

package ioloop

import "golang.org/x/sys/unix"

// socketDomain returns a socket's address family. SO_DOMAIN would say it
// directly, but macOS, NetBSD and OpenBSD lack it; the family of the
// socket's own address is the same on every system, bound or not.
func socketDomain(fd int) (int, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	switch sa.(type) {
	case *unix.SockaddrInet4:
		return unix.AF_INET, nil
	case *unix.SockaddrInet6:
		return unix.AF_INET6, nil
	case *unix.SockaddrUnix:
		return unix.AF_UNIX, nil
	}
	return unix.AF_UNSPEC, nil
}

// Socket options the portable tests read (sockoptInt).
const (
	testSOL_SOCKET    = unix.SOL_SOCKET
	testSO_ACCEPTCONN = unix.SO_ACCEPTCONN
	testSO_REUSEADDR  = unix.SO_REUSEADDR
	testSO_REUSEPORT  = unix.SO_REUSEPORT
	testIPPROTO_TCP   = unix.IPPROTO_TCP
	testTCP_NODELAY   = unix.TCP_NODELAY
)

// sockoptInt is getsockopt(2) of an int option.
func sockoptInt(fd, level, opt int) (int, error) { return unix.GetsockoptInt(fd, level, opt) }

// bindLoopback4 binds the IPv4 socket fd to 127.0.0.1, a port the kernel
// picks.
func bindLoopback4(fd int) error {
	return unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
}

// listenersReuseAddr: ListenTCP sets SO_REUSEADDR (so that a restarted
// server binds its port while old connections linger in TIME_WAIT).
const listenersReuseAddr = true
