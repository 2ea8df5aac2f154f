package conn_test

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/ioloop/ioloop/conn"
)

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &t) && t.Timeout()
}

// dialPair dials ln with client options copts and runs until both sides
// are open.
func dialPair(t *testing.T, e *env, ln *conn.Listener, server *recorder, copts conn.Options, client *recorder) *conn.Conn {
	t.Helper()
	c, err := conn.Dial(e.loop, "tcp", ln.Addr(), copts, client)
	if err != nil {
		t.Fatal(err)
	}
	e.runUntil("open", 5*time.Second, func() bool { return client.opened == 1 && server.opened == 1 })
	return c
}

func TestIdleTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		server := &recorder{}
		var quiet time.Time // when the server last received
		server.onData = func(c *conn.Conn) {
			quiet = e.loop.Now()
			server.got = append(server.got, c.Input()...)
			c.Discard(c.Buffered())
		}
		ln := e.listen(conn.Options{IdleTimeout: 250 * time.Millisecond}, server)
		client := &recorder{}
		c := dialPair(t, e, ln, server, conn.Options{}, client)
		// Activity keeps the connection: 6 messages 50 ms apart (300 ms,
		// more than the idle timeout) without a close.
		start := e.loop.Now()
		for i := range 6 {
			c.WriteString("ping")
			e.runUntil("ping", 5*time.Second, func() bool { return len(server.got) == 4*(i+1) || server.closed > 0 })
			if server.closed > 0 {
				break
			}
			e.runFor(50 * time.Millisecond)
		}
		if server.closed != 0 {
			t.Fatalf("closed while active, after %v: %v", e.loop.Now().Sub(start), server.reasons)
		}
		e.runUntil("idle close", 5*time.Second, func() bool { return server.closed == 1 && client.closed == 1 })
		idle := e.loop.Now().Sub(quiet)
		if !isTimeout(server.reasons[0]) || !errors.Is(server.reasons[0], conn.ErrIdleTimeout) {
			t.Errorf("server's reason %v, want ErrIdleTimeout", server.reasons[0])
		}
		if client.reasons[0] != io.EOF {
			t.Errorf("client's reason %v, want io.EOF", client.reasons[0])
		}
		if idle < 250*time.Millisecond || idle > 2*time.Second {
			t.Errorf("idle close %v after the last message, want about 250ms", idle)
		}
	})
}

func TestReadTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		server := &lineEcho{}
		ln := e.listen(conn.Options{ReadTimeout: 50 * time.Millisecond}, &server.recorder)
		// lineEcho's OnData is the embedded recorder's otherwise: use the line echo.
		server.onData = server.OnData
		client := &recorder{}
		c := dialPair(t, e, ln, &server.recorder, conn.Options{}, client)
		c.WriteString("complete\n")
		e.runUntil("echo", 5*time.Second, func() bool { return len(client.got) == 9 })
		e.runFor(150 * time.Millisecond) // nothing buffered: no read timeout
		if server.closed != 0 {
			t.Fatalf("closed with nothing buffered: %v", server.reasons)
		}
		c.WriteString("incompl")
		e.runUntil("read timeout", 5*time.Second, func() bool { return server.closed == 1 })
		if !isTimeout(server.reasons[0]) || !errors.Is(server.reasons[0], conn.ErrReadTimeout) {
			t.Errorf("server's reason %v, want ErrReadTimeout", server.reasons[0])
		}
		var oe *conn.OpError
		if !errors.As(server.reasons[0], &oe) || oe.Op != "read" {
			t.Errorf("reason %#v, want an *OpError with Op read", server.reasons[0])
		}
		e.runUntil("client closed", 5*time.Second, func() bool { return client.closed == 1 })
	})
}

// A peer that does not read: the write queue makes no progress and the
// connection is aborted with ErrWriteTimeout.
func TestWriteTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		server := &recorder{}
		var srv *conn.Conn
		server.onOpen = func(c *conn.Conn) { srv = c }
		ln := e.listen(conn.Options{WriteTimeout: 100 * time.Millisecond, MaxQueuedBytes: 64 << 20, SendBufferBytes: 32 << 10}, server)
		client := &recorder{}
		client.onOpen = func(c *conn.Conn) { c.PauseRead() }
		dialPair(t, e, ln, server, conn.Options{RecvBufferBytes: 32 << 10}, client)
		chunk := make([]byte, 64<<10)
		for range 256 { // 16 MiB: far more than the socket buffers hold
			if _, err := srv.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		e.runUntil("write timeout", 10*time.Second, func() bool { return server.closed == 1 })
		if !isTimeout(server.reasons[0]) || !errors.Is(server.reasons[0], conn.ErrWriteTimeout) {
			t.Errorf("server's reason %v, want ErrWriteTimeout", server.reasons[0])
		}
		client.conns[0].Abort(nil)
		e.runUntil("client closed", 5*time.Second, func() bool { return client.closed == 1 })
	})
}

// A Dial that cannot finish in time ends with ErrDialTimeout: on the
// kernel backends a resolver that hangs, on the simulator a partition.
func TestDialTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		client := &recorder{}
		opts := conn.Options{DialTimeout: 50 * time.Millisecond}
		address := "slow.example:80"
		if e.sim() {
			peer := e.world.AddNode("peer")
			e.world.Partition(e.node, peer)
			opts.Resolver = e.world.LookupHost
			address = "peer:80"
		} else {
			release := make(chan struct{})
			defer close(release)
			opts.Resolver = func(string) ([]netip.Addr, error) {
				<-release
				return nil, errors.New("released")
			}
		}
		start := e.loop.Now()
		if _, err := conn.Dial(e.loop, "tcp", address, opts, client); err != nil {
			t.Fatal(err)
		}
		e.runUntil("dial timeout", 5*time.Second, func() bool { return client.closed == 1 })
		if took := e.loop.Now().Sub(start); took < 50*time.Millisecond || took > 2*time.Second {
			t.Errorf("dial gave up after %v, want about 50ms", took)
		}
		if client.opened != 0 || !isTimeout(client.reasons[0]) || !errors.Is(client.reasons[0], conn.ErrDialTimeout) {
			t.Errorf("opened %d, reason %v; want ErrDialTimeout", client.opened, client.reasons[0])
		}
		if want := "dial tcp " + address + ": conn: dial timeout"; client.reasons[0].Error() != want {
			t.Errorf("error %q, want %q", client.reasons[0], want)
		}
	})
}

// Setting a shorter timeout on a live connection takes effect even though
// the timer was armed for a later deadline.
func TestSetIdleTimeoutShorter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		server := &recorder{}
		server.onOpen = func(c *conn.Conn) { c.SetIdleTimeout(30 * time.Millisecond) }
		ln := e.listen(conn.Options{IdleTimeout: time.Hour}, server)
		client := &recorder{}
		dialPair(t, e, ln, server, conn.Options{}, client)
		start := e.loop.Now()
		e.runUntil("idle close", 5*time.Second, func() bool { return server.closed == 1 })
		if took := e.loop.Now().Sub(start); took > 2*time.Second {
			t.Errorf("closed after %v", took)
		}
		if !errors.Is(server.reasons[0], conn.ErrIdleTimeout) {
			t.Errorf("reason %v", server.reasons[0])
		}
		e.runUntil("client closed", 5*time.Second, func() bool { return client.closed == 1 })
	})
}

// One timer Completion per Conn, re-armed lazily: a steady stream of
// messages with an idle timeout submits far fewer Timeouts than messages.
func TestTimerRearmedLazily(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		server := &lineEcho{}
		server.onData = server.OnData
		ln := e.listen(conn.Options{IdleTimeout: time.Second, WriteTimeout: time.Second, ReadTimeout: time.Second}, &server.recorder)
		client := &recorder{}
		c := dialPair(t, e, ln, &server.recorder, conn.Options{}, client)
		timeouts := func() uint64 { st := e.loop.Stats(); return st.Op("Timeout").Submitted }
		before := timeouts()
		const messages = 200
		for i := range messages {
			c.WriteString("x\n")
			e.runUntil("echo", 5*time.Second, func() bool { return len(client.got) == 2*(i+1) })
		}
		if n := timeouts() - before; n > 4 {
			t.Errorf("%d messages submitted %d Timeouts", messages, n)
		}
		c.Close()
		e.runUntil("closed", 5*time.Second, func() bool { return server.closed == 1 && client.closed == 1 })
	})
}

// TestHugeTimeouts checks that timeouts near time.Duration's limit mean
// "practically never", not a deadline that overflowed into the past: the
// connection echoes, and nothing closes it.
func TestHugeTimeouts(t *testing.T) {
	const huge = time.Duration(1<<63 - 1)
	forEachBackend(t, func(t *testing.T, e *env) {
		server := &recorder{}
		server.onData = func(c *conn.Conn) {
			server.got = append(server.got, c.Input()...)
			c.Discard(c.Buffered())
		}
		opts := conn.Options{IdleTimeout: huge, ReadTimeout: huge, WriteTimeout: huge, DialTimeout: huge, DrainTimeout: huge}
		ln := e.listen(opts, server)
		client := &recorder{}
		c := dialPair(t, e, ln, server, opts, client)
		c.SetIdleTimeout(huge)
		c.SetReadTimeout(huge)
		c.SetWriteTimeout(huge)
		c.WriteString("ping")
		e.runUntil("ping", 5*time.Second, func() bool { return len(server.got) == 4 || server.closed > 0 })
		e.runFor(50 * time.Millisecond)
		if server.closed != 0 || client.closed != 0 {
			t.Fatalf("closed with timeouts of %v: server %v, client %v", huge, server.reasons, client.reasons)
		}
	})
}
