//go:build !windows

package main

import (
	"fmt"
	"math"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/conn"
)

// config is what the command line chooses.
type config struct {
	addr        string
	backend     ioloop.Backend
	lim         limits
	poolBuffers int // 0: each connection receives into a buffer of its own
	idleTimeout time.Duration
	readTimeout time.Duration
}

// poolBufferBytes is the size of each pooled receive buffer.
const poolBufferBytes = 4096

// app is a running server: the loop, its listener, the HTTP protocol and
// the open connections (so that shutdown can close them).
type app struct {
	loop *ioloop.Loop
	ln   *conn.Listener
	srv  *server
	// open lists the connections; each session holds its index, so that
	// removing one is a swap with the last.
	open []*conn.Conn
}

// start listens on cfg.addr with a loop of its own. Call serve on the
// goroutine that is to run the loop.
func start(cfg config) (*app, error) {
	loop, err := ioloop.New(ioloop.Options{Backend: cfg.backend})
	if err != nil {
		return nil, err
	}
	a := &app{loop: loop, srv: newServer(cfg.lim)}
	opts := conn.Options{
		// Room for the largest request, chunked framing included: the
		// server answers 413 or 431 before the layer's own limit would
		// close the connection without a word.
		MaxInputBytes: cfg.lim.maxInputBytes() + poolBufferBytes,
		IdleTimeout:   cfg.idleTimeout,
		ReadTimeout:   cfg.readTimeout,
	}
	if cfg.poolBuffers > 0 {
		pool, err := ioloop.NewBufferPool(loop, cfg.poolBuffers, poolBufferBytes)
		if err != nil {
			loop.Close()
			return nil, fmt.Errorf("buffer pool: %w", err)
		}
		opts.Pool = pool
	}
	a.ln, err = conn.Listen(loop, "tcp", cfg.addr, opts, (*handler)(a))
	if err != nil {
		loop.Close()
		return nil, err
	}
	return a, nil
}

// shutdownTimeout bounds the graceful close of every connection at
// shutdown (each also has the layer's DrainTimeout).
const shutdownTimeout = 3 * time.Second

// serve runs the loop until Stop, then closes the listener and every
// connection gracefully (within shutdownTimeout) and closes the loop.
func (a *app) serve() error {
	err := a.loop.RunFor(math.MaxInt64)
	a.ln.Close()
	for i := len(a.open) - 1; i >= 0; i-- {
		a.open[i].Close() // OnClose removes it from open
	}
	deadline := time.Now().Add(shutdownTimeout)
	for err == nil && len(a.open) > 0 && time.Now().Before(deadline) {
		err = a.loop.RunFor(10 * time.Millisecond)
	}
	if closeErr := a.loop.Close(); err == nil {
		err = closeErr
	}
	return err
}

// handler is the app as the connection layer sees it: a conn.Handler.
type handler app

// connSession is one connection's state; openIndex is its place in
// app.open. The rest serves streamed responses (GET /chunked?delay_ms=),
// whose chunks a timer writes after OnData has returned.
type connSession struct {
	session
	openIndex int

	app    *app
	conn   *conn.Conn
	closed bool // OnClose has run: a timer still pending writes nothing
	timer  ioloop.Completion
	out    []byte
}

func (h *handler) OnOpen(c *conn.Conn) {
	a := (*app)(h)
	c.SetContext(&connSession{openIndex: len(a.open), app: a, conn: c})
	a.open = append(a.open, c)
}

// OnData answers every complete request buffered, in one Write (the
// layer sends it when OnData returns), and consumes them; an incomplete
// request stays buffered for the next OnData.
func (h *handler) OnData(c *conn.Conn) {
	a := (*app)(h)
	sess := c.Context().(*connSession)
	s := a.srv
	s.w.out = s.w.out[:0]
	n, closeConn := s.process(&sess.session, c.Input())
	c.Discard(n)
	if len(s.w.out) > 0 {
		if _, err := c.Write(s.w.out); err != nil {
			// ErrWriteQueueFull: a client that pipelines requests without
			// reading the responses.
			c.Abort(err)
			return
		}
	}
	switch {
	case closeConn:
		c.Close()
	case sess.streaming() && !sess.timer.Pending():
		// A response goes on from the timer: no more input (and no more
		// OnData) until it has ended; the requests behind it wait
		// buffered, or in the socket.
		c.PauseRead()
		ioloop.Timeout(a.loop, &sess.timer, sess.stream.delay, sess, (*connSession).onStreamTimer)
	}
}

// onStreamTimer writes the next chunk of a streamed response, and at its
// end lets the connection read again (or closes it, if the response said
// so). Writes outside OnData are sent at once.
func (sess *connSession) onStreamTimer(_ *ioloop.Completion, err error) {
	if err != nil || sess.closed {
		return // Loop.Close canceled it, or the connection ended
	}
	c := sess.conn
	out, scratch, done, keepAlive := sess.nextStreamChunk(sess.out[:0], sess.app.srv.handlers.scratch)
	sess.out, sess.app.srv.handlers.scratch = out, scratch
	if _, err := c.Write(sess.out); err != nil {
		c.Abort(err)
		return
	}
	switch {
	case !done:
		ioloop.Timeout(sess.app.loop, &sess.timer, sess.stream.delay, sess, (*connSession).onStreamTimer)
	case keepAlive:
		c.ResumeRead() // OnData runs again for requests already buffered
	default:
		c.Close()
	}
}

func (h *handler) OnClose(c *conn.Conn, _ error) {
	a := (*app)(h)
	sess := c.Context().(*connSession)
	sess.closed = true
	last := len(a.open) - 1
	moved := a.open[last]
	a.open[sess.openIndex] = moved
	moved.Context().(*connSession).openIndex = sess.openIndex
	a.open[last] = nil
	a.open = a.open[:last]
}
