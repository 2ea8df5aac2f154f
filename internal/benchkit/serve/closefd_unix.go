//go:build !windows

package serve

import "golang.org/x/sys/unix"

// closeFD closes a descriptor the loop never will: close(2).
func CloseFD(fd int) error { return unix.Close(fd) }
