package ioloop

import (
	"errors"
	"syscall"
)

// sentinelError is an error that also matches an errno with errors.Is, so
// that code written against either the ioloop sentinel or the raw errno
// works.
type sentinelError struct {
	message string
	errno   syscall.Errno
}

func (e *sentinelError) Error() string { return e.message }

// Is makes errors.Is(err, syscall.ECANCELED) true for ErrCanceled, and so on.
func (e *sentinelError) Is(target error) bool {
	errno, ok := target.(syscall.Errno)
	return ok && errno == e.errno
}

var (
	// ErrCanceled is the result of an operation that was canceled, by
	// Cancel or by Close, before it completed. It matches syscall.ECANCELED
	// with errors.Is. An operation canceled after partial progress (Send)
	// reports the bytes already transferred alongside ErrCanceled.
	ErrCanceled error = &sentinelError{"ioloop: operation canceled", syscall.ECANCELED}

	// ErrNotFound is the result of a Cancel whose target was not in flight:
	// it was never submitted, already completed (its callback ran or is
	// about to run with its own result), or belongs to an earlier use of
	// the Completion. It matches syscall.ENOENT with errors.Is.
	ErrNotFound error = &sentinelError{"ioloop: cancel target not in flight", syscall.ENOENT}

	// ErrClosed is the result of an operation submitted from a callback
	// while the loop is closing. Submitting after Close has returned is a
	// programming error and panics instead. Close itself returns ErrClosed
	// when the loop is already closed.
	ErrClosed = errors.New("ioloop: loop closed")
)

// errnoError converts a negative kernel result into the error delivered to
// callbacks. syscall.Errno values below 256 box into an interface without
// allocating (the runtime keeps static copies), so this is allocation-free.
func errnoError(errno syscall.Errno) error {
	switch errno {
	case syscall.ECANCELED:
		return ErrCanceled
	default:
		return errno
	}
}

// SetupError reports why New could not set up a backend. Err is the
// underlying cause (a syscall.Errno such as EPERM or ENOSYS, or
// errors.ErrUnsupported for a missing kernel feature), so errors.Is works
// on the returned error; Reason explains it in operator terms.
type SetupError struct {
	Backend Backend
	Reason  string
	Err     error
}

func (e *SetupError) Error() string {
	return "ioloop: cannot use " + e.Backend.String() + ": " + e.Reason + " (" + e.Err.Error() + ")"
}

// Unwrap returns the underlying cause.
func (e *SetupError) Unwrap() error { return e.Err }
