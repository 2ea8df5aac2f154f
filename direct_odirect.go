//go:build linux || freebsd || netbsd

package ioloop

import "golang.org/x/sys/unix"

// openDirect opens path with O_DIRECT. Filesystems that cannot do direct
// I/O refuse it with EINVAL at open, or accept it and fail the I/O
// (OpenDirect probes), or, like ZFS before OpenZFS 2.3, accept it and
// cache anyway.
func openDirect(path string, flags int, perm uint32) (int, error) {
	return unix.Open(path, flags|unix.O_DIRECT, perm)
}
