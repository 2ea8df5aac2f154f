//go:build linux || freebsd || netbsd || openbsd

package ioloop

import "golang.org/x/sys/unix"

// newStreamSocket creates a non-blocking, close-on-exec stream socket in
// one system call, so that no fork can inherit it in between.
func newStreamSocket(family int) (int, error) {
	return unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// newDatagramSocket creates a non-blocking, close-on-exec datagram socket
// in one system call.
func newDatagramSocket(family int) (int, error) {
	return unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}
