package conn_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/conn"
	"github.com/ioloop/ioloop/sim"
)

var errByHandler = errors.New("aborted by the handler")

// Close and Abort from inside OnOpen and OnData, twice, and from OnClose,
// and Abort of a Dial that has not connected: one OnClose each, never
// from inside the call, with the right reason.
func TestCloseAndAbortFromCallbacks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		baseline := e.openFDs()
		for _, tc := range []struct {
			name       string
			open, data func(c *conn.Conn)
			want       error
		}{
			{"Close in OnOpen", func(c *conn.Conn) { c.Close(); c.Close() }, nil, nil},
			{"Abort in OnOpen", func(c *conn.Conn) { c.Abort(errByHandler); c.Abort(nil) }, nil, errByHandler},
			{"Close in OnData", nil, func(c *conn.Conn) { c.Write([]byte("bye")); c.Close() }, nil},
			{"Abort in OnData", nil, func(c *conn.Conn) { c.Abort(errByHandler); c.Close() }, errByHandler},
		} {
			server := &recorder{}
			inCall := false
			server.onOpen = func(c *conn.Conn) {
				if tc.open != nil {
					inCall = true
					tc.open(c)
					inCall = false
				}
			}
			server.onData = func(c *conn.Conn) {
				if tc.data != nil {
					inCall = true
					tc.data(c)
					inCall = false
				}
			}
			server.onClose = func(c *conn.Conn, _ error) {
				if inCall {
					t.Errorf("%s: OnClose ran inside the call", tc.name)
				}
				if err := c.Close(); !errors.Is(err, conn.ErrClosed) {
					t.Errorf("%s: Close in OnClose: %v", tc.name, err)
				}
				c.Abort(errors.New("ignored"))
				if _, err := c.Write([]byte("x")); !errors.Is(err, conn.ErrClosed) {
					t.Errorf("%s: Write in OnClose: %v", tc.name, err)
				}
			}
			ln := e.listen(conn.Options{}, server)
			client := &recorder{}
			client.onOpen = func(c *conn.Conn) { c.WriteString("hi") }
			if _, err := conn.Dial(e.loop, "tcp", ln.Addr(), conn.Options{}, client); err != nil {
				t.Fatal(err)
			}
			e.runUntil(tc.name, 5*time.Second, func() bool { return server.closed == 1 && client.closed == 1 })
			e.runFor(10 * time.Millisecond)
			if server.closed != 1 || server.reasons[0] != tc.want {
				t.Errorf("%s: %d OnClose, reason %v, want %v", tc.name, server.closed, server.reasons[0], tc.want)
			}
			ln.Close()
			e.runUntil("listener closed", 5*time.Second, func() bool { return ln.FD() < 0 })
		}

		// A Dial aborted before it connects.
		client := &recorder{}
		ln := e.listen(conn.Options{}, &recorder{})
		c, err := conn.Dial(e.loop, "tcp", ln.Addr(), conn.Options{}, client)
		if err != nil {
			t.Fatal(err)
		}
		c.Abort(errByHandler)
		if client.closed != 0 {
			t.Error("OnClose ran inside Abort")
		}
		e.runUntil("aborted dial", 5*time.Second, func() bool { return client.closed == 1 })
		if client.opened != 0 || client.reasons[0] != errByHandler {
			t.Errorf("aborted dial: opened %d, reason %v", client.opened, client.reasons[0])
		}
		ln.Close()
		e.runUntil("listener closed", 5*time.Second, func() bool { return ln.FD() < 0 })
		e.runFor(10 * time.Millisecond) // the server side of the aborted dial, if it was accepted
		if n := e.openFDs(); n != baseline {
			t.Errorf("%d descriptors open, %d before", n, baseline)
		}
	})
}

// On the simulator a program on the layer is deterministic: the same seed
// gives the same trace, with clients dialing the server by node name.
func TestSimulatorDeterministic(t *testing.T) {
	run := func(seed uint64) (string, int) {
		w := sim.NewWorld(sim.Options{Seed: seed, Faults: sim.Faults{}})
		server, clientNode := w.AddNode("server"), w.AddNode("client")
		echo := &lineEcho{}
		if _, err := conn.Listen(server.Loop(), "tcp", ":7000", conn.Options{IdleTimeout: time.Second}, echo); err != nil {
			t.Fatal(err)
		}
		got := 0
		for i := range 5 {
			client := &recorder{}
			client.onOpen = func(c *conn.Conn) {
				for range 10 + i {
					c.WriteString("line\n")
				}
			}
			client.onData = func(c *conn.Conn) {
				for {
					if _, ok := c.ReadUntil('\n'); !ok {
						return
					}
					got++
				}
			}
			if _, err := conn.Dial(clientNode.Loop(), "tcp", "server:7000", conn.Options{Resolver: w.LookupHost}, client); err != nil {
				t.Fatal(err)
			}
		}
		w.RunFor(10 * time.Second)         // the idle timeout closes everything
		if n := server.OpenFDs(); n != 1 { // the listener
			t.Errorf("seed %d: %d descriptors open on the server node, want 1", seed, n)
		}
		if n := clientNode.OpenFDs(); n != 0 {
			t.Errorf("seed %d: %d descriptors open on the client node", seed, n)
		}
		return w.TraceHash(), got
	}
	h1, got := run(7)
	h2, _ := run(7)
	h3, _ := run(8)
	if got != 10+11+12+13+14 {
		t.Errorf("%d lines echoed", got)
	}
	if h1 != h2 {
		t.Error("same seed, different traces")
	}
	if h1 == h3 {
		t.Error("different seeds, same trace")
	}
}

// Writes from a posted function (the way other goroutines reach a Conn)
// are sent at once, without an OnData to flush them.
func TestWriteFromPost(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		if e.sim() {
			t.Skip("the simulator's programs run on the world's goroutine")
		}
		server := &recorder{}
		ln := e.listen(conn.Options{}, server)
		client := &recorder{}
		dialPair(t, e, ln, server, conn.Options{}, client)
		srv := server.conns[0]
		done := make(chan error, 1)
		go func() {
			done <- ioloop.Post(e.loop, srv, func(c *conn.Conn) {
				c.WriteString("pushed ")
				c.WriteString("by a goroutine\n")
			})
		}()
		e.runUntil("push", 5*time.Second, func() bool { return len(client.got) == len("pushed by a goroutine\n") })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if string(client.got) != "pushed by a goroutine\n" {
			t.Errorf("got %q", client.got)
		}
	})
}
