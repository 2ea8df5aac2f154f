package ioloop

import "net/netip"

// The Loop methods below create and inspect sockets. On the kernel
// backends they are the package functions of the same names; on the
// simulator they act on the node's simulated network. A program that
// creates its sockets through them (and closes them with the Close
// operation) runs unchanged under package sim.

// ListenTCP opens a TCP socket listening on addr, like the package
// function ListenTCP. On the simulator, addr must be the node's address, a
// loopback address or the unspecified address, and only opts.Backlog
// applies.
func (l *Loop) ListenTCP(addr netip.AddrPort, opts ListenOptions) (fd int, bound netip.AddrPort, err error) {
	return l.backend.listenTCP(addr, opts)
}

// TCPSocket opens a TCP socket ready for Connect, like the package
// function TCPSocket.
func (l *Loop) TCPSocket(addr netip.AddrPort) (fd int, err error) { return l.backend.tcpSocket(addr) }

// LocalAddr returns the address a socket is bound to, like the package
// function LocalAddr.
func (l *Loop) LocalAddr(fd int) (netip.AddrPort, error) { return l.backend.localAddr(fd) }

// RemoteAddr returns the address of a connected socket's peer, like the
// package function RemoteAddr.
func (l *Loop) RemoteAddr(fd int) (netip.AddrPort, error) { return l.backend.remoteAddr(fd) }
