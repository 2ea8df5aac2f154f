//go:build !windows

package ioloop

import (
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// UDPOptions configures ListenUDP. The zero value binds a plain socket
// with the system's default buffer sizes.
type UDPOptions struct {
	// ReusePort sets SO_REUSEPORT (SO_REUSEPORT_LB on FreeBSD), so that
	// several sockets (one per loop) can bind the same address and the
	// kernel spreads the datagrams between them, as ListenOptions.ReusePort
	// does for connections.
	ReusePort bool
	// ReceiveBufferBytes and SendBufferBytes set SO_RCVBUF and SO_SNDBUF
	// when positive. The receive buffer bounds the datagrams that wait to
	// be read; beyond it the kernel drops them.
	ReceiveBufferBytes, SendBufferBytes int
}

// ListenUDP opens a non-blocking, close-on-exec UDP socket bound to addr
// and returns it with the address it is bound to (useful with port 0).
// Receive from it with RecvFrom or RecvMsg, answer with SendTo or SendMsg.
func ListenUDP(addr netip.AddrPort, opts UDPOptions) (fd int, bound netip.AddrPort, err error) {
	if !addr.IsValid() {
		return -1, netip.AddrPort{}, syscall.EINVAL
	}
	fd, err = newDatagramSocket(familyOf(addr))
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	if err = setupUDP(fd, addr, opts); err != nil {
		unix.Close(fd)
		return -1, netip.AddrPort{}, err
	}
	if bound, err = LocalAddr(fd); err != nil {
		unix.Close(fd)
		return -1, netip.AddrPort{}, err
	}
	return fd, bound, nil
}

func setupUDP(fd int, addr netip.AddrPort, opts UDPOptions) error {
	if opts.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, reusePortOption, 1); err != nil {
			return err
		}
	}
	if opts.ReceiveBufferBytes > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, opts.ReceiveBufferBytes); err != nil {
			return err
		}
	}
	if opts.SendBufferBytes > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, opts.SendBufferBytes); err != nil {
			return err
		}
	}
	return unix.Bind(fd, sockaddrOf(addr))
}

// UDPSocket opens a non-blocking, close-on-exec UDP socket of addr's
// family (IPv4 or IPv6; only the family of addr matters), not bound: the
// first SendTo binds it to an ephemeral port, and Connect gives it a
// default destination (SendMsg with the zero AddrPort) and makes the
// kernel report ICMP errors, such as ECONNREFUSED, to its operations.
func UDPSocket(addr netip.AddrPort) (fd int, err error) {
	if !addr.IsValid() {
		return -1, syscall.EINVAL
	}
	return newDatagramSocket(familyOf(addr))
}

// ListenUDP opens a UDP socket bound to addr, like the package function
// ListenUDP. On the simulator, addr must be the node's address, a
// loopback address or the unspecified address, and the buffer sizes do
// not apply (sim's Network.BufferBytes bounds every socket's queue).
func (l *Loop) ListenUDP(addr netip.AddrPort, opts UDPOptions) (fd int, bound netip.AddrPort, err error) {
	return l.backend.listenUDP(addr, opts)
}

// UDPSocket opens an unbound UDP socket, like the package function
// UDPSocket.
func (l *Loop) UDPSocket(addr netip.AddrPort) (fd int, err error) { return l.backend.udpSocket(addr) }
