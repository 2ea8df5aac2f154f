package ioloop

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// sentinelError is an error that also matches an errno with errors.Is, so
// that code written against either the ioloop sentinel or the raw errno
// works.
type sentinelError struct {
	message string
	errno   syscall.Errno
}

// Error returns the sentinel's message.
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

	// ErrChainBroken is the result of an operation of a chain (see
	// Loop.BeginChain) that never ran because an earlier operation of the
	// chain failed, was short, or was canceled. It matches
	// syscall.ECANCELED with errors.Is, as io_uring reports it, but not
	// ErrCanceled: nothing canceled this operation itself.
	ErrChainBroken error = &sentinelError{"ioloop: not run: an earlier operation of its chain failed", syscall.ECANCELED}

	// ErrTimedOut is the result of an operation that its LinkTimeout
	// stopped. It matches os.ErrDeadlineExceeded (the error of a net.Conn
	// past its deadline) and syscall.ECANCELED with errors.Is, and its
	// Timeout method reports true, as net.Error's does.
	ErrTimedOut error = &timeoutError{}
)

// timeoutError is ErrTimedOut's type.
type timeoutError struct{}

// Error returns the message.
func (*timeoutError) Error() string { return "ioloop: operation timed out (LinkTimeout)" }

// Timeout reports true: the operation timed out.
func (*timeoutError) Timeout() bool { return true }

// Is matches os.ErrDeadlineExceeded and syscall.ECANCELED.
func (*timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded || target == syscall.ECANCELED
}

// errorCode is how a Completion stores its error: 0 for none, a positive
// errno, or a negative code for an ioloop sentinel. Thirty-two bits instead
// of a 16-byte interface keep a Completion's hot fields in one cache line;
// the error value is built when the callback runs, without allocating
// (syscall.Errno values below 256 box without allocation: the runtime keeps
// static copies).
type errorCode int32

const (
	codeNone        errorCode = 0
	codeEOF         errorCode = -1
	codeCanceled    errorCode = -2
	codeNotFound    errorCode = -3
	codeClosed      errorCode = -4
	codeShortWrite  errorCode = -5
	codeForeignFD   errorCode = -6
	codeChainBroken errorCode = -7
	codeTimedOut    errorCode = -8
	// codeNotRegistered: a ReadFixed or WriteFixed buffer outside the
	// registered buffers (ops_fixed.go).
	codeNotRegistered errorCode = -9
)

var sentinelErrors = [...]error{
	-codeEOF:           io.EOF,
	-codeCanceled:      ErrCanceled,
	-codeNotFound:      ErrNotFound,
	-codeClosed:        ErrClosed,
	-codeShortWrite:    io.ErrShortWrite,
	-codeForeignFD:     errForeignDescriptor,
	-codeChainBroken:   ErrChainBroken,
	-codeTimedOut:      ErrTimedOut,
	-codeNotRegistered: ErrNotRegistered,
}

// errForeignDescriptor is the EBADF of a simulated loop handed a kernel
// descriptor (from the package function ListenTCP, say): it names the
// mistake, and still matches syscall.EBADF with errors.Is.
var errForeignDescriptor error = &sentinelError{
	"ioloop: bad file descriptor: the simulator has no such descriptor, but the kernel does; " +
		"a simulated loop's sockets must come from Loop.ListenTCP and Loop.TCPSocket, and its files from OpenAt",
	syscall.EBADF}

func (code errorCode) err() error {
	switch {
	case code == codeNone:
		return nil
	case code > 0:
		return errnoError(syscall.Errno(code))
	}
	return sentinelErrors[-code]
}

// errnoCode converts a kernel errno into the code delivered to callbacks.
// On Windows the errno may carry the Windows code it came from
// (errors_windows.go), which the code keeps.
func errnoCode(errno syscall.Errno) errorCode {
	if plainErrno(errno) == syscall.ECANCELED {
		return codeCanceled
	}
	return errorCode(errno)
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

// Error describes the failure and its cause.
func (e *SetupError) Error() string {
	return "ioloop: cannot use " + e.Backend.String() + ": " + e.Reason + " (" + e.Err.Error() + ")"
}

// Unwrap returns the underlying cause.
func (e *SetupError) Unwrap() error { return e.Err }

// errnoOf unwraps the syscall.Errno that x/sys returns as an error; an
// error of another kind (none is expected) becomes EIO.
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if errno, ok := err.(syscall.Errno); ok {
		return errno
	}
	return syscall.EIO
}
