package ioloop

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// newStreamSocket creates a non-blocking, close-on-exec stream socket.
// macOS's socket(2) takes no SOCK_NONBLOCK or SOCK_CLOEXEC, so the flags
// are set afterwards; holding syscall.ForkLock across socket and
// CloseOnExec keeps a concurrent fork+exec (os/exec) from inheriting the
// descriptor in between, as Go's net package does.
func newStreamSocket(family int) (int, error) { return newSocket(family, unix.SOCK_STREAM) }

// newDatagramSocket creates a non-blocking, close-on-exec datagram socket,
// as newStreamSocket does.
func newDatagramSocket(family int) (int, error) { return newSocket(family, unix.SOCK_DGRAM) }

func newSocket(family, sotype int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, sotype, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	if err := prepareSocket(fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// prepareSocket makes a new socket (created or accepted) non-blocking and
// sets SO_NOSIGPIPE: macOS has no MSG_NOSIGNAL to pass per send, so this is
// how a write to a peer that went away yields EPIPE instead of SIGPIPE.
func prepareSocket(fd int) error {
	if err := unix.SetNonblock(fd, true); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NOSIGPIPE, 1)
}
