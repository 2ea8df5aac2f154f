package conn

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// OpError is the error of a connection-level operation, shaped like
// net.OpError: Op is "dial", "listen", "accept", "read", "write" or
// "close"; Net the network ("tcp", "tcp4", "tcp6", "unix"); Addr the
// address the operation concerned (the peer's, or the listener's). Err is
// the cause: an *os.SyscallError naming the system call around the
// syscall.Errno, a timeout error, or another error of this package.
//
// Error prints it as Go's net package does ("dial tcp 127.0.0.1:9:
// connect: connection refused"), and Unwrap returns Err, so
// errors.Is(err, syscall.ECONNREFUSED) and errors.Is(err,
// os.ErrDeadlineExceeded) see through it. OpErrors are made only on error
// paths: nothing on the success path allocates one.
type OpError struct {
	// Op is the operation: "dial", "listen", "accept", "read", "write" or
	// "close".
	Op string
	// Net is the network: "tcp", "tcp4", "tcp6" or "unix".
	Net string
	// Addr is the address the operation concerned, as given or as bound.
	Addr string
	// Err is the cause.
	Err error
}

// Error returns "op net addr: cause".
func (e *OpError) Error() string {
	s := e.Op
	if e.Net != "" {
		s += " " + e.Net
	}
	if e.Addr != "" {
		s += " " + e.Addr
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause, so that errors.Is and errors.As reach the
// syscall.Errno or timeout error underneath.
func (e *OpError) Unwrap() error { return e.Err }

// Timeout reports whether the operation failed because a deadline passed
// (a Conn timeout, a dial timeout, or ETIMEDOUT from the kernel), as
// net.Error's Timeout does.
func (e *OpError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// timeoutError is the type of the deadline errors: each matches
// os.ErrDeadlineExceeded with errors.Is, and reports Timeout true.
type timeoutError struct{ message string }

// Error returns the message.
func (e *timeoutError) Error() string { return e.message }

// Timeout reports true.
func (e *timeoutError) Timeout() bool { return true }

// Is matches os.ErrDeadlineExceeded.
func (e *timeoutError) Is(target error) bool { return target == os.ErrDeadlineExceeded }

var (
	// ErrClosed is what Write returns on a Conn that is closing or closed,
	// and what Listener.Close returns the second time. It is net.ErrClosed,
	// so code that checks for the standard library's error works.
	ErrClosed = net.ErrClosed

	// ErrInputTooLarge closes a connection whose unconsumed input reached
	// Options.MaxInputBytes: a frame larger than the limit, or a handler
	// that does not consume its input.
	ErrInputTooLarge = errors.New("conn: unconsumed input exceeds Options.MaxInputBytes")

	// ErrWriteQueueFull is what Write returns when the bytes would take
	// the write queue past Options.MaxQueuedBytes. Nothing was queued;
	// the connection stays open.
	ErrWriteQueueFull = errors.New("conn: write queue full (Options.MaxQueuedBytes)")

	// ErrReadTimeout closes a connection whose incomplete input was not
	// completed within its read timeout (Options.ReadTimeout).
	ErrReadTimeout error = &timeoutError{"conn: read timeout: incomplete input not completed in time"}

	// ErrWriteTimeout closes a connection whose queued output was not all
	// sent within its write timeout (Options.WriteTimeout), or whose
	// graceful close could not flush it within Options.DrainTimeout.
	ErrWriteTimeout error = &timeoutError{"conn: write timeout: queued output not sent in time"}

	// ErrIdleTimeout closes a connection that neither received nor sent
	// anything for its idle timeout (Options.IdleTimeout).
	ErrIdleTimeout error = &timeoutError{"conn: idle timeout"}

	// ErrDialTimeout ends a Dial that did not connect within
	// Options.DialTimeout (resolution included).
	ErrDialTimeout error = &timeoutError{"conn: dial timeout"}
)

// syscallError wraps a syscall.Errno as os.NewSyscallError does
// ("connect: connection refused"); other errors (the loop's sentinels,
// timeouts) pass through unchanged.
func syscallError(name string, err error) error {
	// errors.As, not a type assertion: on Windows the loop's error may be
	// an *ioloop.WindowsError, which unwraps to the Errno.
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return os.NewSyscallError(name, err)
	}
	return err
}
