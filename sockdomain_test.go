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
