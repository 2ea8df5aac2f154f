package conn

import (
	"errors"
	"net/netip"
	"syscall"
	"time"

	"github.com/ioloop/ioloop"
)

// A Listener accepts connections on a loop and serves each with its
// Handler: one AcceptMultishot stays armed for the listener's whole life
// (io_uring's multishot accept; the loop emulates it on epoll, kqueue and
// the simulator). It runs on the loop's goroutine.
type Listener struct {
	loop    *ioloop.Loop
	h       Handler
	set     *settings
	fd      int
	network string
	bound   netip.AddrPort
	path    string // a unix socket's path, removed at Close
	closing bool
	// acceptErr is the last error that ended accepting (EMFILE and the
	// like): the listener accepts again after acceptRetryDelay.
	acceptErr error

	acceptOp, ctlOp, cancelOp ioloop.Completion
}

// acceptRetryDelay is how long a listener waits before accepting again
// after an error such as EMFILE (out of descriptors), which would
// otherwise repeat at once.
const acceptRetryDelay = 10 * time.Millisecond

// Listen listens on address and serves every accepted connection with h,
// configured by opts: OnOpen, OnData, OnClose on the loop's goroutine.
//
// network is "tcp", "tcp4", "tcp6" or "unix". A TCP address is
// "host:port": an IP address ("127.0.0.1:9000", "[::1]:9000"), an empty
// host (":9000": every address, IPv6 and IPv4 where the system allows,
// IPv4 only with "tcp4"), or "localhost" (127.0.0.1; ::1 with "tcp6").
// Listen does not resolve other host names (it would block the loop).
// Port 0 picks a free port: Addr tells which. A unix address is a path
// (on Linux a leading '@' names the abstract namespace); Close removes
// the socket file, and an existing one makes Listen fail with
// EADDRINUSE, as with Go's net package. On the simulator only TCP is
// available, on the node's address, loopback or the unspecified address.
//
// Errors are *OpError values with Op "listen".
func Listen(loop *ioloop.Loop, network, address string, opts Options, h Handler) (*Listener, error) {
	if loop == nil || h == nil {
		panic("conn: Listen with a nil *ioloop.Loop or Handler")
	}
	fail := func(err error) (*Listener, error) {
		return nil, &OpError{Op: "listen", Net: network, Addr: address, Err: err}
	}
	ln := &Listener{loop: loop, h: h, set: newSettings(opts), fd: -1, network: network}
	switch network {
	case "unix":
		if loop.Backend() == ioloop.BackendSimulator {
			return fail(errUnixOnSimulator)
		}
		if address == "" {
			return fail(errEmptyPath)
		}
		fd, err := listenUnix(address, opts.Backlog)
		if err != nil {
			return fail(syscallError("bind", err))
		}
		ln.fd, ln.path = fd, address
	case "tcp", "tcp4", "tcp6":
		ap, err := listenAddr(loop, network, address)
		if err != nil {
			return fail(err)
		}
		lopts := ioloop.ListenOptions{NoDelay: ln.set.noDelay, Backlog: opts.Backlog, ReusePort: opts.ReusePort}
		fd, bound, err := loop.ListenTCP(ap, lopts)
		if (errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL)) && network == "tcp" && ap.Addr() == netip.IPv6Unspecified() {
			// No IPv6 here: every IPv4 address, as Go does.
			ap = netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port())
			fd, bound, err = loop.ListenTCP(ap, lopts)
		}
		if err != nil {
			return fail(syscallError("bind", err))
		}
		ln.fd, ln.bound = fd, bound
	default:
		return fail(UnknownNetworkError(network))
	}
	ln.accept()
	return ln, nil
}

// Addr returns the address the listener is bound to, as a string:
// "127.0.0.1:9000", "[::]:40123", or a unix socket's path.
func (ln *Listener) Addr() string {
	if ln.path != "" {
		return ln.path
	}
	return ln.bound.String()
}

// AddrPort returns the TCP address the listener is bound to (the port
// chosen, with port 0), or the zero AddrPort for a unix socket.
func (ln *Listener) AddrPort() netip.AddrPort { return ln.bound }

// FD returns the listening socket's descriptor, or -1 once closed.
func (ln *Listener) FD() int { return ln.fd }

// Close stops accepting and closes the listening socket (removing a unix
// socket's file). Connections already accepted stay open. The second
// Close returns ErrClosed. Loop.Close closes a listener too.
func (ln *Listener) Close() error {
	if ln.closing {
		return ErrClosed
	}
	ln.closing = true
	switch {
	case ln.acceptOp.Pending():
		ioloop.Cancel(ln.loop, &ln.cancelOp, &ln.acceptOp, ln, (*Listener).onCanceled)
	case ln.ctlOp.Pending(): // waiting to accept again
		ioloop.Cancel(ln.loop, &ln.cancelOp, &ln.ctlOp, ln, (*Listener).onCanceled)
	default:
		ln.closeFD()
	}
	return nil
}

func (ln *Listener) accept() {
	ioloop.AcceptMultishot(ln.loop, &ln.acceptOp, ln.fd, ln, (*Listener).onAccept)
}

func (ln *Listener) onAccept(_ *ioloop.Completion, fd int, err error) {
	if err == nil {
		ln.serve(fd)
		return
	}
	// The final callback.
	if ln.closing || errors.Is(err, ioloop.ErrCanceled) || errors.Is(err, ioloop.ErrClosed) {
		ln.closing = true
		ln.closeFD()
		return
	}
	ln.acceptErr = err
	delay := acceptRetryDelay
	if errors.Is(err, syscall.ECONNABORTED) {
		delay = 0 // one connection's problem: accept the next at once
	}
	ioloop.Timeout(ln.loop, &ln.ctlOp, delay, ln, (*Listener).onRetry)
}

func (ln *Listener) onRetry(_ *ioloop.Completion, err error) {
	if err != nil || ln.closing { // canceled: Close or Loop.Close
		ln.closing = true
		ln.closeFD()
		return
	}
	ln.accept()
}

func (ln *Listener) onCanceled(_ *ioloop.Completion, _ error) {}

// AcceptError returns the last error that interrupted accepting (such as
// EMFILE when the process ran out of descriptors), or nil. The listener
// goes on accepting after such errors by itself.
func (ln *Listener) AcceptError() error {
	if ln.acceptErr == nil {
		return nil
	}
	return &OpError{Op: "accept", Net: ln.network, Addr: ln.Addr(), Err: syscallError("accept", ln.acceptErr)}
}

func (ln *Listener) closeFD() {
	if ln.fd < 0 || ln.ctlOp.Pending() {
		return
	}
	ioloop.Close(ln.loop, &ln.ctlOp, ln.fd, ln, (*Listener).onClosedFD)
}

func (ln *Listener) onClosedFD(_ *ioloop.Completion, err error) {
	if errors.Is(err, ioloop.ErrClosed) || errors.Is(err, ioloop.ErrCanceled) {
		closeNow(ln.loop, ln.fd)
	}
	ln.fd = -1
	if ln.path != "" {
		removeUnixSocket(ln.path)
	}
}

// serve starts an accepted connection.
func (ln *Listener) serve(fd int) {
	c := newConn(ln.loop, ln.h, ln.set, ln.network)
	c.fd = fd
	if ln.network != "unix" {
		// Learn the peer's address now, for the errors that may end the
		// connection: once the peer has reset it, getpeername fails.
		c.RemoteAddr()
		if err := applySocketOptions(ln.loop, fd, ln.set, false); err != nil {
			c.state = stateOpen
			c.teardown(c.opError("accept", syscallError("setsockopt", err)))
			return
		}
	}
	c.open()
}
