//go:build !freebsd && !windows

package ioloop

import "golang.org/x/sys/unix"

// reusePortOption is the socket option behind ListenOptions.ReusePort.
const reusePortOption = unix.SO_REUSEPORT
