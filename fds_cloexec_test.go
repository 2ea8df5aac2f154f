//go:build linux || freebsd || netbsd || openbsd

package ioloop

import "golang.org/x/sys/unix"

// nonblockingSocketpair returns a connected, non-blocking, close-on-exec
// AF_UNIX stream socket pair.
func nonblockingSocketpair() ([2]int, error) {
	return unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// testPipe2 is pipe2(2): flags O_CLOEXEC and O_NONBLOCK.
func testPipe2(p []int, flags int) error {
	return unix.Pipe2(p, flags)
}
