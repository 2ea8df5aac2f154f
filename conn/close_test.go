package conn_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/conn"
)

// Close flushes everything queued before the FIN, and drains what the
// peer still sends until its end of stream.
func TestGracefulCloseFlushesAndDrains(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		baseline := e.openFDs()
		payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
		server := &recorder{}
		server.onData = func(c *conn.Conn) {
			c.Discard(c.Buffered())
			c.Write(payload)
			c.Close() // the reply must still arrive whole
			if _, err := c.Write([]byte("late")); !errors.Is(err, conn.ErrClosed) {
				t.Errorf("Write after Close: %v, want ErrClosed", err)
			}
			if err := c.Close(); !errors.Is(err, conn.ErrClosed) {
				t.Errorf("second Close: %v, want ErrClosed", err)
			}
		}
		ln := e.listen(conn.Options{}, server)
		client := &recorder{}
		var sentAfter int
		client.onOpen = func(c *conn.Conn) { c.WriteString("request") }
		client.onData = func(c *conn.Conn) {
			client.got = append(client.got, c.Input()...)
			c.Discard(c.Buffered())
			// Keep talking while the server drains: it must discard this.
			if sentAfter < 10 {
				sentAfter++
				c.WriteString("more")
			}
		}
		dialed, err := conn.Dial(e.loop, "tcp", ln.Addr(), conn.Options{}, client)
		if err != nil {
			t.Fatal(err)
		}
		e.runUntil("closed", 10*time.Second, func() bool { return server.closed == 1 && client.closed == 1 })
		if !bytes.Equal(client.got, payload) {
			t.Errorf("client got %d bytes, want the whole %d", len(client.got), len(payload))
		}
		if server.reasons[0] != nil || client.reasons[0] != io.EOF {
			t.Errorf("reasons: server %v (want nil), client %v (want io.EOF)", server.reasons[0], client.reasons[0])
		}
		if dialed.FD() != -1 {
			t.Errorf("FD %d after OnClose", dialed.FD())
		}
		ln.Close()
		e.runUntil("listener closed", 5*time.Second, func() bool { return ln.FD() < 0 })
		if n := e.openFDs(); n != baseline {
			t.Errorf("%d descriptors open, %d before", n, baseline)
		}
	})
}

// A peer that never closes its end: the drain gives up after DrainBytes,
// or after DrainTimeout.
func TestDrainBounded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, bound := range []string{"bytes", "time"} {
			opts := conn.Options{DrainBytes: 1000, DrainTimeout: time.Hour}
			if bound == "time" {
				opts = conn.Options{DrainTimeout: 60 * time.Millisecond}
			}
			server := &recorder{}
			var start time.Time // the drain's deadline counts from Close
			server.onOpen = func(c *conn.Conn) { start = e.loop.Now(); c.Close() }
			ln := e.listen(opts, server)
			client := &recorder{}
			var cl *conn.Conn
			client.onOpen = func(c *conn.Conn) { cl = c; c.PauseRead() } // never sees the FIN: never closes
			client.onData = func(c *conn.Conn) {}
			if _, err := conn.Dial(e.loop, "tcp", ln.Addr(), conn.Options{}, client); err != nil {
				t.Fatal(err)
			}
			e.runUntil("open", 5*time.Second, func() bool { return cl != nil })
			if bound == "bytes" {
				chunk := make([]byte, 600)
				for range 4 {
					cl.Write(chunk)
				}
			}
			e.runUntil("server closed", 5*time.Second, func() bool { return server.closed == 1 })
			took := e.loop.Now().Sub(start)
			if bound == "time" && (took < 60*time.Millisecond || took > 3*time.Second) {
				t.Errorf("drain timeout after %v, want 60ms", took)
			}
			if bound == "bytes" && took > 3*time.Second {
				t.Errorf("drain bound by bytes took %v", took)
			}
			if server.reasons[0] != nil {
				t.Errorf("%s: reason %v, want nil (everything was flushed)", bound, server.reasons[0])
			}
			cl.Abort(nil)
			ln.Close()
			e.runUntil("client closed", 5*time.Second, func() bool { return client.closed == 1 })
		}
	})
}

// A peer that resets the connection: OnClose gets an *OpError wrapping
// ECONNRESET, and no descriptor leaks. On the kernel the client resets
// with SO_LINGER 0; on the simulator its node crashes.
func TestPeerReset(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		baseline := e.openFDs()
		server := &recorder{}
		ln := e.listen(conn.Options{}, server)
		if e.sim() {
			peer := e.world.AddNode("peer")
			client := &recorder{}
			if _, err := conn.Dial(peer.Loop(), "tcp", netip.AddrPortFrom(e.node.Addr(), ln.AddrPort().Port()).String(), conn.Options{}, client); err != nil {
				t.Fatal(err)
			}
			e.runUntil("open", 5*time.Second, func() bool { return server.opened == 1 && client.opened == 1 })
			peer.Crash()
		} else {
			client := &recorder{}
			c := dialPair(t, e, ln, server, conn.Options{Linger: -1}, client)
			c.Abort(nil)
			e.runUntil("client closed", 5*time.Second, func() bool { return client.closed == 1 })
		}
		e.runUntil("server closed", 5*time.Second, func() bool { return server.closed == 1 })
		reason := server.reasons[0]
		var oe *conn.OpError
		if !errors.Is(reason, syscall.ECONNRESET) || !errors.As(reason, &oe) || oe.Op != "read" {
			t.Errorf("reason %v, want read: ECONNRESET in an *OpError", reason)
		}
		if oe != nil && oe.Addr == "" {
			t.Errorf("reason %v names no address", reason)
		}
		t.Logf("reason: %v", reason)
		ln.Close()
		e.runUntil("listener closed", 5*time.Second, func() bool { return ln.FD() < 0 })
		if n := e.openFDs(); n != baseline {
			t.Errorf("%d descriptors open, %d before", n, baseline)
		}
	})
}

// Loop.Close with live connections in every state: each gets exactly one
// OnClose (ioloop.ErrClosed), and every descriptor is closed.
func TestLoopCloseWithLiveConns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, pooled := range []bool{false, true} {
			baseline := -1
			if !e.sim() {
				baseline = countProcessFDs(t)
			}
			e2 := newEnv(t, e.backend)
			var opts conn.Options
			if pooled {
				pool, err := ioloop.NewBufferPool(e2.loop, 64, 256)
				if err != nil {
					t.Fatal(err)
				}
				opts.Pool = pool
			}
			closes := map[*conn.Conn]int{}
			server := &recorder{onClose: func(c *conn.Conn, _ error) { closes[c]++ }}
			server.onOpen = func(c *conn.Conn) {
				if len(server.conns)%3 == 0 {
					c.PauseRead()
				}
			}
			ln := e2.listen(conn.Options{Pool: opts.Pool, IdleTimeout: time.Hour}, server)
			client := &recorder{onClose: func(c *conn.Conn, _ error) { closes[c]++ }}
			const n = 9
			for i := range n {
				o := opts
				if i%2 == 0 {
					o.WriteTimeout = time.Minute
				}
				if _, err := conn.Dial(e2.loop, "tcp", ln.Addr(), o, client); err != nil {
					t.Fatal(err)
				}
			}
			e2.runUntil("open", 5*time.Second, func() bool { return server.opened == n && client.opened == n })
			for i, c := range client.conns {
				if i%2 == 1 {
					c.WriteString("unterminated, queued, in flight")
				}
			}
			// A graceful close under way, and a dial resolving (kernel) or
			// connecting.
			client.conns[0].Close()
			if !e2.sim() {
				block := make(chan struct{})
				defer close(block)
				conn.Dial(e2.loop, "tcp", "blocked.example:1", conn.Options{Resolver: func(string) ([]netip.Addr, error) { <-block; return nil, nil }}, client)
			}
			conn.Dial(e2.loop, "tcp", ln.Addr(), conn.Options{}, client)
			e2.loop.Tick()
			e2.close()
			want := n + 1 + server.opened // the dials, and every connection accepted
			if !e2.sim() {
				want++ // the dial resolving
			}
			if server.closed+client.closed != want {
				t.Errorf("pooled %v: %d OnClose calls, want %d", pooled, server.closed+client.closed, want)
			}
			for c, k := range closes {
				if k != 1 {
					t.Errorf("a Conn got %d OnClose calls", k)
				}
				if c.FD() != -1 {
					t.Errorf("FD %d after OnClose", c.FD())
				}
			}
			for _, r := range append(server.reasons, client.reasons...) {
				if r != nil && !errors.Is(r, ioloop.ErrClosed) && r != io.EOF {
					t.Errorf("reason %v, want ioloop.ErrClosed", r)
				}
			}
			if baseline >= 0 {
				if got := countProcessFDs(t); got != baseline {
					t.Errorf("pooled %v: %d descriptors open after Loop.Close, %d before", pooled, got, baseline)
				}
			}
		}
	})
}

// Bad input gives clear errors.
func TestBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		h := &recorder{}
		for _, tc := range []struct{ network, address, want string }{
			{"tcp", "127.0.0.1", "dial tcp 127.0.0.1: address 127.0.0.1: missing port in address"},
			{"tcp", "127.0.0.1:http", "dial tcp 127.0.0.1:http: address 127.0.0.1:http: invalid port"},
			{"tcp", "127.0.0.1:70000", "dial tcp 127.0.0.1:70000: address 127.0.0.1:70000: invalid port"},
			{"tcp4", "[::1]:80", "dial tcp4 [::1]:80: address ::1: address family does not match network tcp4"},
			{"tcp", "", "dial tcp: missing address"},
			{"udp", "127.0.0.1:80", `dial udp 127.0.0.1:80: unknown network "udp"`},
			{"unix", "", "dial unix: empty unix socket path"},
		} {
			_, err := conn.Dial(e.loop, tc.network, tc.address, conn.Options{}, h)
			if e.sim() && tc.network == "unix" {
				tc.want = "dial unix: unix sockets are not simulated; use tcp"
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("Dial(%q, %q): %v, want %q", tc.network, tc.address, err, tc.want)
			}
		}
		if _, err := conn.Listen(e.loop, "tcp", "example.com:80", conn.Options{}, h); err == nil {
			t.Error("Listen on a host name succeeded")
		} else {
			t.Logf("Listen on a host name: %v", err)
		}
		if _, err := conn.Listen(e.loop, "tcp", "192.0.2.1:80", conn.Options{}, h); err == nil {
			t.Error("Listen on an address not ours succeeded")
		} else if !errors.Is(err, syscall.EADDRNOTAVAIL) && !e.sim() {
			t.Errorf("Listen on an address not ours: %v, want EADDRNOTAVAIL", err)
		} else {
			t.Logf("Listen on an address not ours: %v", err)
		}
		if h.closed != 0 || h.opened != 0 {
			t.Errorf("failed calls reached the handler: %d opened, %d closed", h.opened, h.closed)
		}
	})
}

// A refused dial: an *OpError printing as Go's net package does, matching
// ECONNREFUSED.
func TestDialRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		baseline := e.openFDs()
		// A port nobody listens on: listen, note the port, close.
		ln := e.listen(conn.Options{}, &recorder{})
		addr := ln.Addr()
		ln.Close()
		e.runUntil("listener closed", 5*time.Second, func() bool { return ln.FD() < 0 })
		client := &recorder{}
		if _, err := conn.Dial(e.loop, "tcp", addr, conn.Options{}, client); err != nil {
			t.Fatal(err)
		}
		e.runUntil("refused", 5*time.Second, func() bool { return client.closed == 1 })
		err := client.reasons[0]
		// On Windows the errno's text is followed by the Windows code's
		// (ioloop.WindowsError): "... connection refused (Windows code 1225: ...)".
		if want := "dial tcp " + addr + ": connect: connection refused"; err == nil || err.Error() != want && (runtime.GOOS != "windows" || !strings.HasPrefix(err.Error(), want+" (Windows code ")) {
			t.Errorf("error %q, want %q", err, want)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("errors.Is(%v, ECONNREFUSED) is false", err)
		}
		if client.opened != 0 {
			t.Error("OnOpen for a refused dial")
		}
		if n := e.openFDs(); n != baseline {
			t.Errorf("%d descriptors open, %d before", n, baseline)
		}
	})
}
