package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/ioloop/ioloop"
)

// acceptDepth is how many Accepts a server loop keeps in flight. One would
// do, but a load generator opening a thousand connections at once then
// drains the backlog at one connection per loop pass; a few in flight
// drain it in a fraction of the passes.
const acceptDepth = 4

// acceptBackoff is how long a server waits before accepting again after
// running out of file descriptors or memory: retrying at once would spin.
const acceptBackoff = 10 * time.Millisecond

// acceptor keeps acceptDepth Accepts in flight on one loop's listening
// socket: the accept side that `ioloop echo` and `bench arch -serve` share.
// Only its loop's goroutine touches it.
type acceptor struct {
	loop     *ioloop.Loop
	listenFD int
	accepts  [acceptDepth]ioloop.Completion
	handler  acceptHandler
}

// acceptHandler is the server behind an acceptor. Its methods run on the
// loop's goroutine.
type acceptHandler interface {
	// accepted takes over the descriptor of a new connection.
	accepted(fd int)
	// acceptFailed is told of an accept error that stops this Accept for
	// good (see classifyAcceptError), already wrapped as "accept: ...".
	acceptFailed(err error)
}

// start submits the Accepts; loop must be set.
func (a *acceptor) start() {
	for i := range a.accepts {
		a.accept(&a.accepts[i])
	}
}

func (a *acceptor) accept(c *ioloop.Completion) {
	ioloop.Accept(a.loop, c, a.listenFD, a, (*acceptor).onAccept)
}

func (a *acceptor) onAccept(c *ioloop.Completion, fd int, err error) {
	if err != nil {
		switch classifyAcceptError(err) {
		case acceptStopped: // the loop is closing
		case acceptRetryLater:
			ioloop.Timeout(a.loop, c, acceptBackoff, a, (*acceptor).onAcceptBackoff)
		case acceptRetryNow:
			a.accept(c)
		default:
			a.handler.acceptFailed(fmt.Errorf("accept: %w", err))
		}
		return
	}
	a.accept(c)
	a.handler.accepted(fd)
}

func (a *acceptor) onAcceptBackoff(c *ioloop.Completion, err error) {
	if err != nil { // canceled: the loop is closing
		return
	}
	a.accept(c)
}

// acceptVerdict is what a server does after a failed accept.
type acceptVerdict int

const (
	acceptFatal      acceptVerdict = iota // stop the server with the error
	acceptStopped                         // the server is shutting down: stop quietly
	acceptRetryLater                      // out of descriptors or memory: retry after acceptBackoff
	acceptRetryNow                        // only that connection failed: accept the next
)

// classifyAcceptError sorts accept errors the same way for every server.
func classifyAcceptError(err error) acceptVerdict {
	switch {
	case errors.Is(err, ioloop.ErrCanceled), errors.Is(err, ioloop.ErrClosed), errors.Is(err, net.ErrClosed):
		return acceptStopped
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE),
		errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM):
		// Retrying at once would spin until a descriptor is closed.
		return acceptRetryLater
	case errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPROTO),
		errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EINTR),
		errors.Is(err, syscall.EAGAIN):
		// The connection died in the backlog, or a firewall refused it:
		// the listener itself is fine.
		return acceptRetryNow
	}
	return acceptFatal
}
