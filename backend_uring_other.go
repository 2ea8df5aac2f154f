//go:build !linux

package ioloop

import "errors"

// uringBackend exists on every OS so that the portable loop can refer to
// it, but io_uring is Linux-only: New never creates one here.
type uringBackend struct{ backend }

func newURingBackend(*Loop, Options) (*uringBackend, error) {
	return nil, &SetupError{Backend: BackendIOUring, Err: errors.ErrUnsupported,
		Reason: "io_uring exists only on Linux"}
}
