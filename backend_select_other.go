//go:build !linux && !windows

package ioloop

import "errors"

// useURing fails: io_uring is Linux's. BackendAuto then falls back to the
// platform's readiness backend (fallbackAllowed accepts ErrUnsupported).
func (l *Loop) useURing(Options) error {
	return &SetupError{Backend: BackendIOUring, Err: errors.ErrUnsupported,
		Reason: "io_uring exists only on Linux"}
}
