//go:build !windows

package netconn

import "golang.org/x/sys/unix"

// closeFD closes a descriptor outside the loop: close(2).
func closeFD(fd int) { _ = unix.Close(fd) }

// shutdownWrite is shutdown(2) with SHUT_WR.
func shutdownWrite(fd int) error { return unix.Shutdown(fd, unix.SHUT_WR) }
