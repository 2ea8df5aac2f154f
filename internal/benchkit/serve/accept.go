package serve

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/ioloop/ioloop"
)

// AcceptDepth is how many Accepts a server loop keeps in flight. One would
// do, but a load generator opening a thousand connections at once then
// drains the backlog at one connection per loop pass; a few in flight
// drain it in a fraction of the passes.
const AcceptDepth = 4

// AcceptBackoff is how long a server waits before accepting again after
// running out of file descriptors or memory: retrying at once would spin.
const AcceptBackoff = 10 * time.Millisecond

// Acceptor keeps AcceptDepth Accepts in flight on one loop's listening
// socket: the accept side that `ioloop echo` and `bench arch -serve` share.
// Only its loop's goroutine touches it.
type Acceptor struct {
	Loop     *ioloop.Loop
	ListenFD int
	Handler  AcceptHandler
	accepts  [AcceptDepth]ioloop.Completion
}

// AcceptHandler is the server behind an Acceptor. Its methods run on the
// loop's goroutine.
type AcceptHandler interface {
	// Accepted takes over the descriptor of a new connection.
	Accepted(fd int)
	// AcceptFailed is told of an accept error that stops this Accept for
	// good (see ClassifyAcceptError), already wrapped as "accept: ...".
	AcceptFailed(err error)
}

// Start submits the Accepts; Loop must be set.
func (a *Acceptor) Start() {
	for i := range a.accepts {
		a.accept(&a.accepts[i])
	}
}

func (a *Acceptor) accept(c *ioloop.Completion) {
	ioloop.Accept(a.Loop, c, a.ListenFD, a, (*Acceptor).onAccept)
}

func (a *Acceptor) onAccept(c *ioloop.Completion, fd int, err error) {
	if err != nil {
		switch ClassifyAcceptError(err) {
		case AcceptStopped: // the loop is closing
		case AcceptRetryLater:
			ioloop.Timeout(a.Loop, c, AcceptBackoff, a, (*Acceptor).onAcceptBackoff)
		case AcceptRetryNow:
			a.accept(c)
		default:
			a.Handler.AcceptFailed(fmt.Errorf("accept: %w", err))
		}
		return
	}
	a.accept(c)
	a.Handler.Accepted(fd)
}

func (a *Acceptor) onAcceptBackoff(c *ioloop.Completion, err error) {
	if err != nil { // canceled: the loop is closing
		return
	}
	a.accept(c)
}

// AcceptVerdict is what a server does after a failed accept.
type AcceptVerdict int

const (
	AcceptFatal      AcceptVerdict = iota // stop the server with the error
	AcceptStopped                         // the server is shutting down: stop quietly
	AcceptRetryLater                      // out of descriptors or memory: retry after AcceptBackoff
	AcceptRetryNow                        // only that connection failed: accept the next
)

// ClassifyAcceptError sorts accept errors the same way for every server.
func ClassifyAcceptError(err error) AcceptVerdict {
	switch {
	case errors.Is(err, ioloop.ErrCanceled), errors.Is(err, ioloop.ErrClosed), errors.Is(err, net.ErrClosed):
		return AcceptStopped
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE),
		errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM):
		// Retrying at once would spin until a descriptor is closed.
		return AcceptRetryLater
	case errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPROTO),
		errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EINTR),
		errors.Is(err, syscall.EAGAIN):
		// The connection died in the backlog, or a firewall refused it:
		// the listener itself is fine.
		return AcceptRetryNow
	}
	return AcceptFatal
}
