//go:build !linux

package ioloop

import (
	"errors"
	"syscall"
)

// uringBackend exists on every OS so that the portable loop can refer to
// it, but io_uring is Linux-only: New never creates one here.
type uringBackend struct{ backend }

func (*uringBackend) canRing() bool           { return false }
func (*uringBackend) ringDoorbell(*Loop) bool { return false }

func newURingBackend(*Loop, Options) (*uringBackend, error) {
	return nil, &SetupError{Backend: BackendIOUring, Err: errors.ErrUnsupported,
		Reason: "io_uring exists only on Linux"}
}

// errnoTimerExpired is io_uring's "Timeout expired" result (ETIME, which
// FreeBSD and OpenBSD do not even define). Without io_uring no kernel
// result means that: the readiness backends complete Timeouts themselves,
// and errno 0 never reaches the error branch of Loop.complete.
const errnoTimerExpired syscall.Errno = 0
