//go:build linux || darwin || freebsd || netbsd || openbsd

package ioloop

import (
	"errors"
)

type readinessBackend struct{ backend }

func newReadinessBackend(l *Loop, opts Options) (*readinessBackend, error) {
	return nil, &SetupError{Backend: readinessBackendKind, Err: errors.ErrUnsupported, Reason: "not written yet"}
}
