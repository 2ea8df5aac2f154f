package ioloop

import (
	"net/netip"
	"syscall"
)

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
	if l.sim == nil {
		return ListenTCP(addr, opts)
	}
	if !addr.IsValid() {
		return -1, netip.AddrPort{}, syscall.EINVAL
	}
	fd, bound, errno := l.sim.node.Listen(addr, opts.Backlog)
	if errno != 0 {
		return -1, netip.AddrPort{}, errno
	}
	return fd, bound, nil
}

// TCPSocket opens a TCP socket ready for Connect, like the package
// function TCPSocket.
func (l *Loop) TCPSocket(addr netip.AddrPort) (fd int, err error) {
	if l.sim == nil {
		return TCPSocket(addr)
	}
	if !addr.IsValid() {
		return -1, syscall.EINVAL
	}
	return l.sim.node.Socket(), nil
}

// LocalAddr returns the address a socket is bound to, like the package
// function LocalAddr.
func (l *Loop) LocalAddr(fd int) (netip.AddrPort, error) {
	if l.sim == nil {
		return LocalAddr(fd)
	}
	addr, errno := l.sim.node.LocalAddr(fd)
	if errno != 0 {
		return addr, errno
	}
	return addr, nil
}

// RemoteAddr returns the address of a connected socket's peer, like the
// package function RemoteAddr.
func (l *Loop) RemoteAddr(fd int) (netip.AddrPort, error) {
	if l.sim == nil {
		return RemoteAddr(fd)
	}
	addr, errno := l.sim.node.RemoteAddr(fd)
	if errno != 0 {
		return addr, errno
	}
	return addr, nil
}
