package main

import (
	"errors"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// serverConn is the part of a server connection that `ioloop echo` and
// `bench arch -serve` share: its descriptor, its one Completion, and the
// way from a sent reply back to receiving, or from a failure to Close.
// A connection has exactly one operation in flight at a time (Recv, then
// Send, then Recv again, or finally Close), so one Completion suffices and
// shutdown needs no list of live connections: Loop.Close cancels that one
// operation, and the cancellation leads every connection through its close
// path.
type serverConn struct {
	loop  *ioloop.Loop
	fd    int
	c     ioloop.Completion
	owner serverConnOwner
}

// serverConnOwner is the server's own connection type, which embeds the
// serverConn. Its methods run on the loop's goroutine.
type serverConnOwner interface {
	// recv receives the next request, once a reply has been sent.
	recv()
	// closed hands the connection back to its server once its descriptor
	// is closed (fd is then -1).
	closed()
}

// send sends buf, the whole reply, then receives the next request.
func (sc *serverConn) send(buf []byte) {
	ioloop.Send(sc.loop, &sc.c, sc.fd, buf, sc, (*serverConn).onSend)
}

func (sc *serverConn) onSend(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		sc.close()
		return
	}
	sc.owner.recv()
}

func (sc *serverConn) close() {
	ioloop.Close(sc.loop, &sc.c, sc.fd, sc, (*serverConn).onClosed)
}

func (sc *serverConn) onClosed(_ *ioloop.Completion, err error) {
	// A Close submitted while the loop is closing never reaches the kernel
	// (ErrClosed), and one canceled in the kernel did not run: either way
	// the descriptor is still open, and nothing else will close it.
	if errors.Is(err, ioloop.ErrClosed) || errors.Is(err, ioloop.ErrCanceled) {
		_ = unix.Close(sc.fd)
	}
	sc.fd = -1
	sc.owner.closed()
}

// connPool keeps a server loop's closed connections for reuse, with their
// buffers: once it has held as many as were ever open at once, accepting
// allocates nothing. Only the loop's goroutine touches it.
type connPool[C any] struct {
	free []*C
}

// get returns a closed connection to reuse, or nil when there is none.
func (p *connPool[C]) get() *C {
	n := len(p.free)
	if n == 0 {
		return nil
	}
	conn := p.free[n-1]
	p.free[n-1] = nil
	p.free = p.free[:n-1]
	return conn
}

func (p *connPool[C]) put(conn *C) { p.free = append(p.free, conn) }
