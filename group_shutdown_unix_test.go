//go:build !windows

package ioloop

import "golang.org/x/sys/unix"

// The helpers of group_shutdown_test.go that differ by system, for Unix.

// idleStreamPair returns a connected, non-blocking stream socket pair
// (AF_UNIX) that nothing writes to.
func idleStreamPair() ([2]int, error) { return nonblockingSocketpair() }

// idlePipe returns an empty non-blocking pipe; ok is true: Unix has
// pipes the loop can read.
func idlePipe() (p [2]int, ok bool, err error) {
	err = testPipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC)
	return p, err == nil, err
}
