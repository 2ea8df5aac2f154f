package serve

import (
	"errors"
	"fmt"

	"github.com/ioloop/ioloop"
)

// PooledEcho is the echo server on a BufferPool and multishot operations:
// one AcceptMultishot accepts every connection, and each connection is
// served by one RecvMultishot for its whole life, whose buffers the
// connections share. An idle connection therefore holds no buffer and one
// Completion, its receive: the Completion that sends the replies (and
// finally closes) is the server's, lent to a connection only while it has
// something to send (pooledOut). Each arrival is sent back from the pool's
// buffer, which is released when its Send is done; arrivals during a Send
// wait in order. Only its loop's goroutine touches it.
type PooledEcho struct {
	loop     *ioloop.Loop
	listenFD int
	pool     *ioloop.BufferPool
	accept   ioloop.Completion
	conns    Pool[pooledConn]
	outs     Pool[pooledOut]

	connections int64
	active      int64
	messages    int64
	bytes       int64
	fatal       error
	// onFatal, if set, is called on the loop's goroutine when fatal is
	// set, as Echo.onFatal.
	onFatal func()
}

type pooledConn struct {
	srv  *PooledEcho
	recv ioloop.Completion // the connection's RecvMultishot
	// out is the connection's sending side while it has replies to send
	// or is closing, nil otherwise.
	out      *pooledOut
	fd       int32
	recvDone bool // recv had its final callback
	broken   bool // a Send failed: drop what arrives, close when recv ends
}

// pooledOut is a connection's sending side: the Completion that sends its
// replies and finally closes it, and the buffers that wait to be sent
// back (queue[0] is being sent while op is pending). The server keeps them
// for reuse, so only as many exist as connections ever sent at once.
type pooledOut struct {
	conn  *pooledConn
	op    ioloop.Completion
	queue [][]byte
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
			if s.onFatal != nil {
				s.onFatal()
			}
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
	conn.fd, conn.recvDone, conn.broken = int32(fd), false, false
	ioloop.RecvMultishot(s.loop, &conn.recv, fd, s.pool, conn, (*pooledConn).onRecv)
}

// lendOut gives conn a sending side.
func (conn *pooledConn) lendOut() *pooledOut {
	out := conn.srv.outs.Get()
	if out == nil {
		out = &pooledOut{}
	}
	out.conn = conn
	conn.out = out
	return out
}

func (conn *pooledConn) onRecv(_ *ioloop.Completion, buf []byte, err error) {
	if err != nil { // the final callback: io.EOF, a reset, or Loop.Close
		conn.recvDone = true
		if conn.out == nil {
			conn.lendOut().close()
		}
		return // else the last Send's callback closes
	}
	if conn.broken {
		conn.srv.pool.Release(buf)
		return
	}
	s := conn.srv
	s.messages++
	s.bytes += int64(len(buf))
	out := conn.out
	if out == nil {
		out = conn.lendOut()
	}
	out.queue = append(out.queue, buf)
	if len(out.queue) == 1 {
		out.send()
	}
}

func (out *pooledOut) send() {
	conn := out.conn
	ioloop.Send(conn.srv.loop, &out.op, int(conn.fd), out.queue[0], out, (*pooledOut).onSent)
}

func (out *pooledOut) onSent(_ *ioloop.Completion, _ int, err error) {
	conn := out.conn
	pool := conn.srv.pool
	pool.Release(out.queue[0])
	n := copy(out.queue, out.queue[1:])
	out.queue[n] = nil
	out.queue = out.queue[:n]
	if err != nil {
		// The peer is gone: its receive ends too (a reset or EOF), and
		// then the connection closes.
		conn.broken = true
		for _, buf := range out.queue {
			pool.Release(buf)
		}
		clear(out.queue)
		out.queue = out.queue[:0]
	}
	switch {
	case len(out.queue) > 0:
		out.send()
	case conn.recvDone:
		out.close()
	default:
		conn.out = nil
		out.conn = nil
		conn.srv.outs.Put(out)
	}
}

func (out *pooledOut) close() {
	ioloop.Close(out.conn.srv.loop, &out.op, int(out.conn.fd), out, (*pooledOut).onClosed)
}

func (out *pooledOut) onClosed(_ *ioloop.Completion, err error) {
	conn := out.conn
	// As Conn.onClosed: a Close during Loop.Close never ran.
	if errors.Is(err, ioloop.ErrClosed) || errors.Is(err, ioloop.ErrCanceled) {
		_ = CloseFD(int(conn.fd))
	}
	s := conn.srv
	conn.fd, conn.out, out.conn = -1, nil, nil
	s.outs.Put(out)
	s.active--
	s.conns.Put(conn)
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
