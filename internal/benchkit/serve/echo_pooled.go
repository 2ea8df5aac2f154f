//go:build !windows

package serve

import (
	"errors"
	"fmt"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// PooledEcho is the echo server on a BufferPool and multishot operations:
// one AcceptMultishot accepts every connection, and each connection is
// served by one RecvMultishot for its whole life, whose buffers the
// connections share. An idle connection therefore holds no buffer, only
// its two Completions: the receive, and the one that sends replies and
// finally closes. Each arrival is sent back from the pool's buffer, which
// is released when its Send is done; arrivals during a Send wait in the
// connection's queue, in order. Only its loop's goroutine touches it.
type PooledEcho struct {
	loop     *ioloop.Loop
	listenFD int
	pool     *ioloop.BufferPool
	accept   ioloop.Completion
	conns    Pool[pooledConn]

	connections int64
	active      int64
	messages    int64
	bytes       int64
	fatal       error
}

type pooledConn struct {
	srv *PooledEcho
	fd  int
	// recv is the connection's RecvMultishot; out sends each reply and,
	// once recv has ended and nothing is left to send, closes.
	recv ioloop.Completion
	out  ioloop.Completion
	// queue holds the received buffers not yet sent back; queue[0] is
	// being sent while out is pending.
	queue    [][]byte
	recvDone bool // recv had its final callback
	broken   bool // a Send failed: drop what arrives, close when recv ends
}

// NewPooledEcho returns the pooled echo server of loop on the listening
// socket listenFD, with a pool of buffers buffers of bufSize bytes shared
// by all its connections. Start starts it; closing the loop stops it,
// closes its connections and its pool.
func NewPooledEcho(loop *ioloop.Loop, listenFD, buffers, bufSize int) (*PooledEcho, error) {
	pool, err := ioloop.NewBufferPool(loop, buffers, bufSize)
	if err != nil {
		return nil, err
	}
	return &PooledEcho{loop: loop, listenFD: listenFD, pool: pool}, nil
}

// Start arms the AcceptMultishot.
func (s *PooledEcho) Start() {
	ioloop.AcceptMultishot(s.loop, &s.accept, s.listenFD, s, (*PooledEcho).onAccept)
}

func (s *PooledEcho) onAccept(c *ioloop.Completion, fd int, err error) {
	if err == nil {
		s.accepted(fd)
		return
	}
	// The final callback: the AcceptMultishot has ended.
	switch ClassifyAcceptError(err) {
	case AcceptStopped:
	case AcceptRetryLater:
		ioloop.Timeout(s.loop, c, AcceptBackoff, s, (*PooledEcho).onAcceptBackoff)
	case AcceptRetryNow:
		s.Start()
	default:
		if s.fatal == nil {
			s.fatal = fmt.Errorf("accept: %w", err)
		}
	}
}

func (s *PooledEcho) onAcceptBackoff(_ *ioloop.Completion, err error) {
	if err == nil { // not canceled by Loop.Close
		s.Start()
	}
}

func (s *PooledEcho) accepted(fd int) {
	s.connections++
	s.active++
	conn := s.conns.Get()
	if conn == nil {
		conn = &pooledConn{srv: s}
	}
	conn.fd, conn.recvDone, conn.broken = fd, false, false
	ioloop.RecvMultishot(s.loop, &conn.recv, fd, s.pool, conn, (*pooledConn).onRecv)
}

func (conn *pooledConn) onRecv(_ *ioloop.Completion, buf []byte, err error) {
	if err != nil { // the final callback: io.EOF, a reset, or Loop.Close
		conn.recvDone = true
		if !conn.out.Pending() {
			conn.close()
		}
		return
	}
	if conn.broken {
		conn.srv.pool.Release(buf)
		return
	}
	s := conn.srv
	s.messages++
	s.bytes += int64(len(buf))
	conn.queue = append(conn.queue, buf)
	if len(conn.queue) == 1 {
		conn.send()
	}
}

func (conn *pooledConn) send() {
	ioloop.Send(conn.srv.loop, &conn.out, conn.fd, conn.queue[0], conn, (*pooledConn).onSent)
}

func (conn *pooledConn) onSent(_ *ioloop.Completion, _ int, err error) {
	pool := conn.srv.pool
	pool.Release(conn.queue[0])
	n := copy(conn.queue, conn.queue[1:])
	conn.queue[n] = nil
	conn.queue = conn.queue[:n]
	if err != nil {
		// The peer is gone: its receive ends too (a reset or EOF), and
		// then the connection closes.
		conn.broken = true
		for _, buf := range conn.queue {
			pool.Release(buf)
		}
		clear(conn.queue)
		conn.queue = conn.queue[:0]
	}
	switch {
	case len(conn.queue) > 0:
		conn.send()
	case conn.recvDone:
		conn.close()
	}
}

func (conn *pooledConn) close() {
	ioloop.Close(conn.srv.loop, &conn.out, conn.fd, conn, (*pooledConn).onClosed)
}

func (conn *pooledConn) onClosed(_ *ioloop.Completion, err error) {
	// As Conn.onClosed: a Close during Loop.Close never ran.
	if errors.Is(err, ioloop.ErrClosed) || errors.Is(err, ioloop.ErrCanceled) {
		_ = unix.Close(conn.fd)
	}
	conn.fd = -1
	conn.srv.active--
	conn.srv.conns.Put(conn)
}

// Fatal is the accept error that stopped the server, or nil.
func (s *PooledEcho) Fatal() error { return s.fatal }

// Pool is the server's buffer pool.
func (s *PooledEcho) Pool() *ioloop.BufferPool { return s.pool }

// Stats returns the counters; only the loop's goroutine may call it while
// the loop runs. A message is one arrival echoed.
func (s *PooledEcho) Stats() EchoStats {
	return EchoStats{Connections: s.connections, Active: s.active, Messages: s.messages, Bytes: s.bytes}
}
