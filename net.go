//go:build !windows

package ioloop

import (
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenOptions configures ListenTCP. The zero value gives a listener like
// Go's net.Listen: SO_REUSEADDR set, the system's maximum backlog.
type ListenOptions struct {
	// Backlog is the listen(2) backlog; 0 means the system maximum
	// (SOMAXCONN, which Linux caps at net.core.somaxconn).
	Backlog int
	// ReusePort sets SO_REUSEPORT (SO_REUSEPORT_LB on FreeBSD, where
	// plain SO_REUSEPORT does not balance) so that several sockets (one
	// per loop) can listen on the same address and the kernel spreads
	// connections. macOS, NetBSD and OpenBSD allow the shared address but
	// do not spread connections evenly.
	ReusePort bool
	// NoDelay sets TCP_NODELAY, which accepted sockets inherit: small
	// writes go out at once instead of waiting for Nagle's algorithm.
	NoDelay bool
}

// ListenTCP opens a non-blocking, close-on-exec TCP socket listening on
// addr and returns it with the address it is bound to (useful with port 0).
// SO_REUSEADDR is always set, as Go's net package does.
func ListenTCP(addr netip.AddrPort, opts ListenOptions) (fd int, bound netip.AddrPort, err error) {
	if !addr.IsValid() {
		return -1, netip.AddrPort{}, syscall.EINVAL
	}
	fd, err = newStreamSocket(familyOf(addr))
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	if err = setupListener(fd, addr, opts); err != nil {
		unix.Close(fd)
		return -1, netip.AddrPort{}, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, netip.AddrPort{}, err
	}
	return fd, addrPortFromSockaddr(sa), nil
}

func setupListener(fd int, addr netip.AddrPort, opts ListenOptions) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	if opts.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, reusePortOption, 1); err != nil {
			return err
		}
	}
	if opts.NoDelay {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return err
		}
	}
	if err := unix.Bind(fd, sockaddrOf(addr)); err != nil {
		return err
	}
	backlog := opts.Backlog
	if backlog <= 0 {
		backlog = unix.SOMAXCONN
	}
	return unix.Listen(fd, backlog)
}

// ListenUnix opens a non-blocking, close-on-exec unix stream socket
// listening at path. On Linux a '@' prefix names the abstract namespace;
// elsewhere '@' is an ordinary first character of a path. An existing
// socket file at path is not removed: that is the caller's decision.
func ListenUnix(path string, backlog int) (fd int, err error) {
	fd, err = newStreamSocket(unix.AF_UNIX)
	if err != nil {
		return -1, err
	}
	name := path
	if abstractUnixNamespace && len(name) > 0 && name[0] == '@' {
		name = "\x00" + name[1:]
	}
	if backlog <= 0 {
		backlog = unix.SOMAXCONN
	}
	if err = unix.Bind(fd, &unix.SockaddrUnix{Name: name}); err == nil {
		err = unix.Listen(fd, backlog)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// TCPSocket opens a non-blocking, close-on-exec TCP socket of addr's
// family (IPv4 or IPv6), with TCP_NODELAY set, ready for Connect.
func TCPSocket(addr netip.AddrPort) (fd int, err error) {
	if !addr.IsValid() {
		return -1, syscall.EINVAL
	}
	fd, err = newStreamSocket(familyOf(addr))
	if err != nil {
		return -1, err
	}
	if err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// UnixSocket opens a non-blocking, close-on-exec unix stream socket, ready
// for ConnectUnix.
func UnixSocket() (fd int, err error) {
	return newStreamSocket(unix.AF_UNIX)
}

// SetNoDelay sets or clears TCP_NODELAY on a TCP socket.
func SetNoDelay(fd int, noDelay bool) error {
	value := 0
	if noDelay {
		value = 1
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, value)
}

func familyOf(addr netip.AddrPort) int {
	if addr.Addr().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func sockaddrOf(addr netip.AddrPort) unix.Sockaddr {
	ip := addr.Addr()
	if ip.Is4() {
		return &unix.SockaddrInet4{Port: int(addr.Port()), Addr: ip.As4()}
	}
	sa := &unix.SockaddrInet6{Port: int(addr.Port()), Addr: ip.As16()}
	if zone := ip.Zone(); zone != "" {
		if index, err := zoneIndex(zone); err == 0 {
			sa.ZoneId = index
		}
	}
	return sa
}

// LocalAddr returns the address a socket is bound to.
func LocalAddr(fd int) (netip.AddrPort, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return addrPortFromSockaddr(sa), nil
}

// RemoteAddr returns the address of a connected socket's peer.
func RemoteAddr(fd int) (netip.AddrPort, error) {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return addrPortFromSockaddr(sa), nil
}
