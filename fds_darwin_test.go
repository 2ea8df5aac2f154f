package ioloop

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// macOS has neither SOCK_NONBLOCK/SOCK_CLOEXEC nor pipe2, so the test
// helpers set the flags afterwards, under ForkLock like the library.

// nonblockingSocketpair returns a connected, non-blocking, close-on-exec
// AF_UNIX stream socket pair, with SO_NOSIGPIPE like the library's sockets.
func nonblockingSocketpair() ([2]int, error) {
	syscall.ForkLock.RLock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return fds, err
	}
	for _, fd := range fds {
		if err := prepareSocket(fd); err != nil {
			unix.Close(fds[0])
			unix.Close(fds[1])
			return fds, err
		}
	}
	return fds, nil
}

// testPipe2 is pipe2(2): flags O_CLOEXEC and O_NONBLOCK.
func testPipe2(p []int, flags int) error {
	syscall.ForkLock.RLock()
	err := unix.Pipe(p)
	if err == nil && flags&unix.O_CLOEXEC != 0 {
		unix.CloseOnExec(p[0])
		unix.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil || flags&unix.O_NONBLOCK == 0 {
		return err
	}
	for _, fd := range p[:2] {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return err
		}
	}
	return nil
}
