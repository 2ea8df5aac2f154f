// Package serve holds the ioloop servers that ioloop's benchmarks put
// under load, and the parts servers share: an Acceptor that keeps a few
// Accepts in flight and sorts accept errors, a Conn base with one
// operation in flight at a time, and a Pool that makes accepting
// allocation-free in steady state. Echo (one loop) and EchoGroup (a
// Group of loops on SO_REUSEPORT listeners) are the echo server that
// `ioloop echo`, `ioloop bench echo -server ioloop` and the bench/
// suite's ioloop contenders all run; `ioloop bench arch -serve` builds its
// servers from the same parts.
package serve

import "github.com/ioloop/ioloop"

// Echo echoes every byte it receives on every connection of one loop:
// Recv, then Send of what was received, then Recv again (see Conn). Only
// its loop's goroutine touches it.
type Echo struct {
	Acceptor
	bufSize int
	pool    Pool[echoConn]

	connections int64 // accepted in total
	active      int64 // open now
	messages    int64 // Recv completions echoed
	bytes       int64 // bytes echoed
	fatal       error // an accept error that stops the server
	// onFatal, if set, is called on the loop's goroutine when fatal is
	// set: a group's loops run on goroutines of their own, and this is how
	// the goroutine that waits for the group learns that one loop gave up.
	onFatal func()
}

type echoConn struct {
	Conn
	srv *Echo
	buf []byte
}

// NewEcho returns the echo server of loop on the listening socket
// listenFD, receiving into bufSize bytes per connection. Start starts it;
// closing the loop stops it and closes its connections.
func NewEcho(loop *ioloop.Loop, listenFD, bufSize int) *Echo {
	s := &Echo{bufSize: bufSize}
	s.Acceptor = Acceptor{Loop: loop, ListenFD: listenFD, Handler: s}
	return s
}

// Accepted serves a new connection, reusing a closed one's buffer.
func (s *Echo) Accepted(fd int) {
	s.connections++
	s.active++
	conn := s.pool.Get()
	if conn == nil {
		conn = &echoConn{srv: s, buf: make([]byte, s.bufSize)}
		conn.Conn = Conn{Loop: s.Loop, Owner: conn}
	}
	conn.FD = fd
	conn.Recv()
}

// AcceptFailed stops the server: Fatal returns err from now on.
func (s *Echo) AcceptFailed(err error) {
	if s.fatal == nil {
		s.fatal = err
		if s.onFatal != nil {
			s.onFatal()
		}
	}
}

// Fatal is the accept error that stopped the server, or nil.
func (s *Echo) Fatal() error { return s.fatal }

// Pooled is the number of closed connections kept for reuse.
func (s *Echo) Pooled() int { return s.pool.Len() }

func (conn *echoConn) Recv() {
	ioloop.Recv(conn.Loop, &conn.Op, conn.FD, conn.buf, conn, (*echoConn).onRecv)
}

func (conn *echoConn) onRecv(_ *ioloop.Completion, n int, err error) {
	if err != nil { // io.EOF, a reset, or cancellation by Loop.Close
		conn.Close()
		return
	}
	s := conn.srv
	s.messages++
	s.bytes += int64(n)
	conn.Send(conn.buf[:n])
}

func (conn *echoConn) Closed() {
	conn.srv.active--
	conn.srv.pool.Put(conn)
}

// EchoStats are an echo server's counters. A message is one receive that
// was echoed, as `ioloop echo -server gonet` counts too, so that scripts
// can compare the two.
type EchoStats struct {
	Connections int64 // accepted in total
	Active      int64 // open now
	Messages    int64 // receives echoed
	Bytes       int64 // bytes echoed
}

// Add returns the sum of two servers' counters.
func (st EchoStats) Add(other EchoStats) EchoStats {
	return EchoStats{st.Connections + other.Connections, st.Active + other.Active,
		st.Messages + other.Messages, st.Bytes + other.Bytes}
}

// Stats returns the counters; only the loop's goroutine may call it while
// the loop runs.
func (s *Echo) Stats() EchoStats {
	return EchoStats{Connections: s.connections, Active: s.active, Messages: s.messages, Bytes: s.bytes}
}
