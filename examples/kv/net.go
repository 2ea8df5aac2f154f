//go:build !windows

package main

import (
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/conn"
)

// kvNet serves the server's sessions over the connection layer: one
// session per connection. Input is executed as soon as it is buffered;
// the replies to every complete request in one OnData go out in one
// Write (one send), after OnData returns; a partial request stays
// buffered in the connection until the rest arrives.
type kvNet struct {
	srv      *server
	ln       *conn.Listener
	sessions map[*netSession]struct{}
	closing  bool
	// closed is called once the listener and every connection are closed
	// after close.
	closed func()
}

// netSession is a session and its connection.
type netSession struct {
	session
	c *conn.Conn
	p parser
}

// connOptions are the connection layer's settings for clients: requests
// up to the largest argument (plus room for its header) may be buffered,
// replies to a deep pipeline may queue, and a connection being closed
// (QUIT, a protocol error, shutdown) waits at most a second for the
// client to close its side.
func connOptions() conn.Options {
	return conn.Options{
		ReadBufferBytes: 16 << 10,
		MaxInputBytes:   maxBulkBytes + 1<<20,
		MaxQueuedBytes:  256 << 20,
		DrainTimeout:    time.Second,
	}
}

// listen starts serving srv on address (host:port) of l.
func listen(l *ioloop.Loop, srv *server, address string, opts conn.Options) (*kvNet, error) {
	k := &kvNet{srv: srv, sessions: make(map[*netSession]struct{})}
	ln, err := conn.Listen(l, "tcp", address, opts, k)
	if err != nil {
		return nil, err
	}
	k.ln = ln
	return k, nil
}

// OnOpen starts a session for a new connection.
func (k *kvNet) OnOpen(c *conn.Conn) {
	ns := &netSession{session: session{srv: k.srv, heldFrom: -1}, c: c, p: parser{inline: true}}
	ns.release = func(*session) { ns.releaseHeld() } // one closure per connection
	c.SetContext(ns)
	k.sessions[ns] = struct{}{}
	if k.closing {
		c.Close()
	}
}

// OnData executes every complete request buffered.
func (k *kvNet) OnData(c *conn.Conn) {
	ns := c.Context().(*netSession)
	n, err := k.srv.execute(&ns.session, &ns.p, c.Input())
	c.Discard(n)
	ns.flush()
	if err != nil {
		ns.quit = true // nothing more is read from a client that broke the protocol
	}
	if ns.quit && ns.heldFrom < 0 {
		// A protocol error (its reply is queued) or QUIT: close after the
		// replies, as Redis does. With replies still waiting for the
		// append-only file, releaseHeld closes once they are sent.
		c.Close()
	}
}

// OnClose forgets the session. Replies it still held are dropped: a
// write whose reply never went out was not acknowledged.
func (k *kvNet) OnClose(c *conn.Conn, _ error) {
	ns := c.Context().(*netSession)
	ns.closed = true
	delete(k.sessions, ns)
	k.checkClosed()
}

// flush hands the deliverable replies to the connection.
func (ns *netSession) flush() {
	out := ns.deliverable()
	if len(out) == 0 || ns.closed {
		return
	}
	if _, err := ns.c.Write(out); err != nil {
		// The client does not read its replies (the queue's bound):
		// Redis's output buffer limit closes it too.
		ns.c.Abort(err)
		return
	}
	ns.sent(len(out))
}

// releaseHeld sends replies the append-only file has released, outside
// OnData: the connection flushes only when told.
func (ns *netSession) releaseHeld() {
	ns.flush()
	ns.c.Flush()
	if ns.quit {
		ns.c.Close()
	}
}

// close stops accepting and closes every connection gracefully (the
// replies already released are sent first).
func (k *kvNet) close(done func()) {
	if k.closing {
		return
	}
	k.closing, k.closed = true, done
	k.ln.Close()
	for ns := range k.sessions {
		ns.c.Close()
	}
	k.checkClosed()
}

func (k *kvNet) checkClosed() {
	if k.closing && len(k.sessions) == 0 && k.closed != nil {
		done := k.closed
		k.closed = nil
		done()
	}
}
