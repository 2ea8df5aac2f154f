package netconn

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/ioloop/ioloop"
)

// A Listener is a TCP listening socket whose Accept runs on a Network's
// loop. It implements net.Listener; concurrent Accepts are served one
// after another.
type Listener struct {
	nw   *Network
	fd   int
	addr *net.TCPAddr
	net  string

	mu   sync.Mutex    // serializes Accept
	done chan struct{} // one value per finished Accept
	// The result of an Accept, handed over as direction's is.
	accepted *Conn
	err      error

	closed   atomic.Bool
	closedCh chan struct{}

	// Loop-side state.
	op, cancelOp, closeOp ioloop.Completion
	busy, canceling       bool
	closing, fdClosing    bool
	chClosed              bool
}

// Accept waits for the next connection and returns it as a *Conn. After
// Close it returns an error matching net.ErrClosed (what net/http's
// Server.Serve expects of a closed listener). Errors are *net.OpError.
func (l *Listener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return nil, l.opError(net.ErrClosed)
	}
	if post(l.nw, l, (*Listener).start) != nil {
		return nil, l.opError(net.ErrClosed)
	}
	<-l.done
	c, err := l.accepted, l.err
	l.accepted, l.err = nil, nil
	if err != nil {
		return nil, l.opError(err)
	}
	c.loadAddrs()
	return c, nil
}

// start runs on the loop and submits the Accept.
func (l *Listener) start() {
	if l.closing {
		l.finish(nil, net.ErrClosed)
		return
	}
	l.busy = true
	ioloop.Accept(l.nw.loop, &l.op, l.fd, l, (*Listener).onAccept)
}

func (l *Listener) onAccept(_ *ioloop.Completion, fd int, err error) {
	l.busy = false
	switch {
	case err == nil && l.closing:
		closeFD(fd) // accepted as Close began: nobody will take it
		err = net.ErrClosed
	case err == nil:
		c := newConn(l.nw, fd)
		c.register()
		l.finish(c, nil)
		return
	case errors.Is(err, ioloop.ErrCanceled) || err == ioloop.ErrClosed:
		err = net.ErrClosed
	default:
		if isErrno(err) {
			err = os.NewSyscallError("accept", err)
		}
	}
	l.finish(nil, err)
	l.maybeCloseFD()
}

func (l *Listener) finish(c *Conn, err error) {
	l.accepted, l.err = c, err
	l.done <- struct{}{}
	l.nw.wakeCaller()
}

// Close stops listening: a pending Accept returns net.ErrClosed, and Close
// returns once the listening socket is closed. Connections already
// accepted stay open. A second Close returns an error matching
// net.ErrClosed.
func (l *Listener) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return l.opError(net.ErrClosed)
	}
	if post(l.nw, l, (*Listener).beginClose) != nil {
		<-l.nw.done
		return nil
	}
	<-l.closedCh
	return nil
}

func (l *Listener) beginClose() {
	l.closing = true
	if l.busy && !l.canceling {
		l.canceling = true
		ioloop.Cancel(l.nw.loop, &l.cancelOp, &l.op, l, (*Listener).onCanceled)
	}
	l.maybeCloseFD()
}

func (l *Listener) onCanceled(_ *ioloop.Completion, _ error) {
	l.canceling = false
	l.maybeCloseFD()
}

func (l *Listener) maybeCloseFD() {
	if !l.closing || l.fdClosing || l.busy || l.canceling {
		return
	}
	l.fdClosing = true
	ioloop.Close(l.nw.loop, &l.closeOp, l.fd, l, (*Listener).onClosed)
}

func (l *Listener) onClosed(_ *ioloop.Completion, err error) {
	if err == ioloop.ErrClosed || errors.Is(err, ioloop.ErrCanceled) {
		return // the loop is closing: teardown closes the socket
	}
	delete(l.nw.listeners, l)
	l.chClosed = true
	close(l.closedCh)
	l.nw.wakeCaller()
}

// closeFDNow closes the socket during the Network's teardown.
func (l *Listener) closeFDNow() {
	if l.chClosed {
		return
	}
	closeFD(l.fd)
	l.chClosed = true
	close(l.closedCh)
}

// register runs on the loop and adds l to the Network's open listeners.
func (l *Listener) register() {
	l.nw.listeners[l] = struct{}{}
	l.done <- struct{}{}
	l.nw.wakeCaller()
}

// Addr returns the address the listener is bound to, a *net.TCPAddr (with
// the port the kernel chose, for port 0).
func (l *Listener) Addr() net.Addr { return l.addr }

func (l *Listener) opError(err error) error {
	return &net.OpError{Op: "accept", Net: l.net, Addr: l.addr, Err: err}
}
