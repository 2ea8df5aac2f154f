package ioloop

import "golang.org/x/sys/unix"

// statxBuffer is what a Statx operation fills: the kernel's struct statx.
type statxBuffer = unix.Statx_t
