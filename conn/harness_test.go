package conn_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/conn"
	"github.com/ioloop/ioloop/sim"
)

// env is one backend under test: a loop, and on the simulator its world
// and node. Server and client run on the same loop.
type env struct {
	t       *testing.T
	backend ioloop.Backend
	loop    *ioloop.Loop
	world   *sim.World
	node    *sim.Node
	closed  bool
}

// backends are the backends conn's tests run on: io_uring and epoll (on
// Linux), IOCP (on Windows) or kqueue (on the BSDs and macOS) where the
// machine has them, and always the simulator.
var backends = []ioloop.Backend{ioloop.BackendIOUring, ioloop.BackendEpoll, ioloop.BackendKqueue, ioloop.BackendIOCP, ioloop.BackendSimulator}

// systemBackend reports whether b is a kernel backend of this system.
func systemBackend(b ioloop.Backend) bool {
	switch runtime.GOOS {
	case "linux":
		return b == ioloop.BackendIOUring || b == ioloop.BackendEpoll
	case "windows":
		return b == ioloop.BackendIOCP
	}
	return b == ioloop.BackendKqueue
}

// forEachBackend runs fn once per backend, each in its own subtest with
// a fresh loop, which it closes at the end unless fn did.
func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.String(), func(t *testing.T) {
			e := newEnv(t, b)
			defer e.close()
			fn(t, e)
		})
	}
}

func newEnv(t *testing.T, b ioloop.Backend) *env {
	t.Helper()
	e := &env{t: t, backend: b}
	if b == ioloop.BackendSimulator {
		e.world = sim.NewWorld(sim.Options{Seed: 1})
		e.node = e.world.AddNode("server")
		e.loop = e.node.Loop()
		return e
	}
	if !systemBackend(b) {
		t.Skipf("%v is not a backend of %s", b, runtime.GOOS)
	}
	loop, err := ioloop.New(ioloop.Options{Backend: b})
	if err != nil {
		t.Skipf("%v unavailable: %v", b, err)
	}
	e.loop = loop
	return e
}

func (e *env) close() {
	if !e.closed {
		e.closed = true
		if err := e.loop.Close(); err != nil && err != ioloop.ErrClosed {
			e.t.Errorf("Loop.Close: %v", err)
		}
	}
}

func (e *env) sim() bool { return e.backend == ioloop.BackendSimulator }

// runUntil runs the loop until done, failing the test after limit (of
// virtual time on the simulator).
func (e *env) runUntil(what string, limit time.Duration, done func() bool) {
	e.t.Helper()
	if e.sim() {
		ok, err := e.world.RunUntil(limit, done)
		if err != nil && err != sim.ErrDeadlock {
			e.t.Fatalf("%s: %v", what, err)
		}
		if !ok && !done() {
			e.t.Fatalf("%s: not done after %v of virtual time", what, limit)
		}
		return
	}
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not done after %v", what, limit)
		}
		if err := e.loop.RunFor(time.Millisecond); err != nil {
			e.t.Fatalf("%s: RunFor: %v", what, err)
		}
	}
}

// runFor runs the loop for d (virtual on the simulator).
func (e *env) runFor(d time.Duration) {
	if e.sim() {
		e.world.RunFor(d)
		return
	}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		e.loop.RunFor(time.Until(end))
	}
}

// openFDs counts open descriptors: the process's on the kernel backends
// (from /proc/self/fd, or /dev/fd), the node's on the simulator.
func (e *env) openFDs() int {
	if e.sim() {
		return e.node.OpenFDs()
	}
	return countProcessFDs(e.t)
}

// listen listens on a free loopback port with h.
func (e *env) listen(opts conn.Options, h conn.Handler) *conn.Listener {
	e.t.Helper()
	ln, err := conn.Listen(e.loop, "tcp", "127.0.0.1:0", opts, h)
	if err != nil {
		e.t.Fatal(err)
	}
	return ln
}

// recorder is a Handler that records what happens, with optional hooks.
type recorder struct {
	opened, closed int
	reasons        []error
	got            []byte
	conns          []*conn.Conn
	onOpen         func(c *conn.Conn)
	onData         func(c *conn.Conn)
	onClose        func(c *conn.Conn, reason error)
}

func (r *recorder) OnOpen(c *conn.Conn) {
	r.opened++
	r.conns = append(r.conns, c)
	if r.onOpen != nil {
		r.onOpen(c)
	}
}

func (r *recorder) OnData(c *conn.Conn) {
	if r.onData != nil {
		r.onData(c)
		return
	}
	r.got = append(r.got, c.Input()...)
	c.Discard(c.Buffered())
}

func (r *recorder) OnClose(c *conn.Conn, reason error) {
	r.closed++
	r.reasons = append(r.reasons, reason)
	if r.onClose != nil {
		r.onClose(c, reason)
	}
}

// lineEcho echoes each complete line.
type lineEcho struct{ recorder }

func (h *lineEcho) OnData(c *conn.Conn) {
	for {
		line, ok := c.ReadUntil('\n')
		if !ok {
			return
		}
		c.Write(line)
	}
}
