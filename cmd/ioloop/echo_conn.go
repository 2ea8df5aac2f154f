package main

import (
	"errors"
	"io"
	"net/netip"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/conn"
	"github.com/ioloop/ioloop/internal/benchkit/serve"
)

// serverConn is `ioloop echo -server conn` (and `bench echo -server
// conn`): the echo server written on the connection layer, package conn,
// to measure what the layer costs against the raw Recv/Send server
// (serve.Echo, `-server ioloop`) on the same loop and backend.
const serverConn = "conn"

// connEcho echoes whatever each connection's OnData finds buffered, and
// counts as serve.Echo does: a message is one receive echoed (one
// OnData).
type connEcho struct {
	connections, active, messages, bytes int64
}

func (s *connEcho) OnOpen(*conn.Conn) {
	s.connections++
	s.active++
}

func (s *connEcho) OnData(c *conn.Conn) {
	in := c.Input()
	s.messages++
	s.bytes += int64(len(in))
	if _, err := c.Write(in); err != nil {
		c.Abort(err)
		return
	}
	c.Discard(len(in))
}

func (s *connEcho) OnClose(*conn.Conn, error) { s.active-- }

// Fatal is always nil: a conn.Listener goes on accepting after errors
// such as EMFILE by itself.
func (s *connEcho) Fatal() error { return nil }

// Stats returns the counters, as serve.Echo's.
func (s *connEcho) Stats() serve.EchoStats {
	return serve.EchoStats{Connections: s.connections, Active: s.active, Messages: s.messages, Bytes: s.bytes}
}

// startConnEcho starts the conn echo server on a new loop listening on
// addr: receiving into a bufSize buffer per connection, or through a
// pool of poolBuffers buffers of bufSize with RecvMultishot.
func startConnEcho(addr netip.AddrPort, opts ioloop.Options, poolBuffers, bufSize int, stderr io.Writer) (loopEcho, netip.AddrPort, error) {
	loop, err := newLoop(opts, stderr)
	if err != nil {
		return loopEcho{}, netip.AddrPort{}, err
	}
	copts := conn.Options{ReadBufferBytes: bufSize, MaxInputBytes: max(bufSize, conn.DefaultMaxInputBytes)}
	if poolBuffers > 0 {
		if copts.Pool, err = ioloop.NewBufferPool(loop, poolBuffers, bufSize); err != nil {
			return loopEcho{}, netip.AddrPort{}, errors.Join(err, loop.Close())
		}
	}
	srv := &connEcho{}
	ln, err := conn.Listen(loop, "tcp", addr.String(), copts, srv)
	if err != nil {
		return loopEcho{}, netip.AddrPort{}, errors.Join(err, loop.Close())
	}
	return loopEcho{loop, srv}, ln.AddrPort(), nil
}
