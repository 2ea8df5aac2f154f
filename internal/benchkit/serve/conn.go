package serve

import (
	"errors"

	"github.com/ioloop/ioloop"
)

// Conn is the part of a server connection that `ioloop echo` and
// `bench arch -serve` share: its descriptor, its one Completion, and the
// way from a sent reply back to receiving, or from a failure to Close.
// A connection has exactly one operation in flight at a time (Recv, then
// Send, then Recv again, or finally Close), so one Completion suffices and
// shutdown needs no list of live connections: Loop.Close cancels that one
// operation, and the cancellation leads every connection through its close
// path.
type Conn struct {
	Loop  *ioloop.Loop
	FD    int               // -1 once closed
	Op    ioloop.Completion // the connection's one operation in flight
	Owner ConnOwner
}

// ConnOwner is the server's own connection type, which embeds the
// Conn. Its methods run on the loop's goroutine.
type ConnOwner interface {
	// Recv receives the next request, once a reply has been sent.
	Recv()
	// Closed hands the connection back to its server once its descriptor
	// is closed (FD is then -1).
	Closed()
}

// Send sends buf, the whole reply, then receives the next request.
func (sc *Conn) Send(buf []byte) {
	ioloop.Send(sc.Loop, &sc.Op, sc.FD, buf, sc, (*Conn).onSend)
}

func (sc *Conn) onSend(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		sc.Close()
		return
	}
	sc.Owner.Recv()
}

// Close closes the connection's descriptor with the loop's Close
// operation, and then hands the connection back to its owner.
func (sc *Conn) Close() {
	ioloop.Close(sc.Loop, &sc.Op, sc.FD, sc, (*Conn).onClosed)
}

func (sc *Conn) onClosed(_ *ioloop.Completion, err error) {
	// A Close submitted while the loop is closing never reaches the kernel
	// (ErrClosed), and one canceled in the kernel did not run: either way
	// the descriptor is still open, and nothing else will close it.
	if errors.Is(err, ioloop.ErrClosed) || errors.Is(err, ioloop.ErrCanceled) {
		_ = CloseFD(sc.FD)
	}
	sc.FD = -1
	sc.Owner.Closed()
}

// Pool keeps a server loop's closed connections for reuse, with their
// buffers: once it has held as many as were ever open at once, accepting
// allocates nothing. Only the loop's goroutine touches it.
type Pool[C any] struct {
	free []*C
}

// Get returns a closed connection to reuse, or nil when there is none.
func (p *Pool[C]) Get() *C {
	n := len(p.free)
	if n == 0 {
		return nil
	}
	conn := p.free[n-1]
	p.free[n-1] = nil
	p.free = p.free[:n-1]
	return conn
}

// Put keeps a closed connection for reuse.
func (p *Pool[C]) Put(conn *C) { p.free = append(p.free, conn) }

// Len is the number of connections kept for reuse.
func (p *Pool[C]) Len() int { return len(p.free) }
