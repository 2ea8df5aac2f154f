//go:build !freebsd

package ioloop

import "golang.org/x/sys/unix"

// reusePortOption is the socket option behind ListenOptions.ReusePort.
const reusePortOption = unix.SO_REUSEPORT
