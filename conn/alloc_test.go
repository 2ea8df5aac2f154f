package conn_test

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/conn"
)

// roundTrip is an echo round trip without closures or time.After, for
// AllocsPerRun: the client writes msg, and the loop runs until the echo
// is back.
type roundTrip struct {
	e      *env
	client *conn.Conn
	msg    []byte
	got    int
}

type echoHandler struct{}

func (echoHandler) OnOpen(*conn.Conn) {}
func (echoHandler) OnData(c *conn.Conn) {
	c.Write(c.Input())
	c.Discard(c.Buffered())
}
func (echoHandler) OnClose(*conn.Conn, error) {}

type countingClient struct{ rt *roundTrip }

func (countingClient) OnOpen(*conn.Conn) {}
func (h countingClient) OnData(c *conn.Conn) {
	h.rt.got += c.Discard(c.Buffered())
}
func (countingClient) OnClose(*conn.Conn, error) {}

func (rt *roundTrip) once() {
	want := rt.got + len(rt.msg)
	rt.client.Write(rt.msg)
	for rt.got < want {
		if rt.e.sim() {
			rt.e.world.RunFor(time.Millisecond)
		} else {
			rt.e.loop.Tick() // non-blocking: spin until the echo is back
		}
	}
}

// Zero allocations per message in steady state: an echo round trip
// through the layer, on both ends, with timeouts set and without; with
// the connection's own buffer and with a pool.
func TestZeroAllocsPerMessage(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, pooled := range []bool{false, true} {
			for _, timeouts := range []bool{false, true} {
				var opts conn.Options
				if pooled {
					pool, err := ioloop.NewBufferPool(e.loop, 16, 4096)
					if err != nil {
						t.Fatal(err)
					}
					opts.Pool = pool
				}
				if timeouts {
					opts.IdleTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Minute, time.Minute, time.Minute
				}
				ln, err := conn.Listen(e.loop, "tcp", "127.0.0.1:0", opts, echoHandler{})
				if err != nil {
					t.Fatal(err)
				}
				rt := &roundTrip{e: e, msg: []byte(strings.Repeat("m", 64))}
				rt.client, err = conn.Dial(e.loop, "tcp", ln.Addr(), opts, countingClient{rt})
				if err != nil {
					t.Fatal(err)
				}
				for range 50 { // warm up: buffers, free lists, the loop's tables
					rt.once()
				}
				if allocs := testing.AllocsPerRun(200, rt.once); allocs != 0 {
					t.Errorf("pooled %v, timeouts %v: %.2f allocations per echo round trip, want 0", pooled, timeouts, allocs)
				}
				rt.client.Close()
				ln.Close()
				e.runFor(20 * time.Millisecond)
			}
		}
	})
}

// GC safety: echo under constant collection (GOGC=1 and explicit GCs in
// the handlers), with pooled and own buffers; the bytes must come back
// intact.
func TestGCSafety(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, pooled := range []bool{false, true} {
			var opts conn.Options
			if pooled {
				pool, err := ioloop.NewBufferPool(e.loop, 8, 512)
				if err != nil {
					t.Fatal(err)
				}
				opts.Pool = pool
			}
			server := &lineEcho{}
			ln, err := conn.Listen(e.loop, "tcp", "127.0.0.1:0", opts, server)
			if err != nil {
				t.Fatal(err)
			}
			var want, got strings.Builder
			for i := range 300 {
				want.WriteString(strings.Repeat(string(rune('a'+i%26)), i%97) + "\n")
			}
			client := &recorder{}
			client.onOpen = func(c *conn.Conn) {
				for _, line := range strings.SplitAfter(want.String(), "\n") {
					runtime.GC()
					c.WriteString(line)
				}
			}
			client.onData = func(c *conn.Conn) {
				runtime.GC()
				got.Write(c.Input())
				c.Discard(c.Buffered())
			}
			if _, err := conn.Dial(e.loop, "tcp", ln.Addr(), opts, client); err != nil {
				t.Fatal(err)
			}
			e.runUntil("echo", 20*time.Second, func() bool { return got.Len() >= want.Len() })
			if got.String() != want.String() {
				t.Fatalf("pooled %v: echo corrupted under GC", pooled)
			}
			client.conns[0].Close()
			ln.Close()
			e.runUntil("closed", 5*time.Second, func() bool { return client.closed == 1 && server.closed == 1 })
		}
	})
}

// PauseRead stops OnData and receiving; ResumeRead delivers what was
// buffered without new input.
func TestPauseResume(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, pooled := range []bool{false, true} {
			var opts conn.Options
			if pooled {
				pool, err := ioloop.NewBufferPool(e.loop, 8, 64)
				if err != nil {
					t.Fatal(err)
				}
				opts.Pool = pool
			}
			var lines []string
			server := &recorder{}
			server.onData = func(c *conn.Conn) {
				// One request at a time: pause after each, as a server
				// waiting for a disk write would.
				if line, ok := c.ReadUntil('\n'); ok {
					lines = append(lines, string(line))
					if len(lines) < 4 {
						c.PauseRead()
					}
				}
			}
			ln := e.listen(opts, server)
			client := &recorder{}
			client.onOpen = func(c *conn.Conn) { c.WriteString("one\ntwo\nthree\n") }
			if _, err := conn.Dial(e.loop, "tcp", ln.Addr(), conn.Options{}, client); err != nil {
				t.Fatal(err)
			}
			e.runUntil("first line", 5*time.Second, func() bool { return len(lines) == 1 })
			e.runFor(20 * time.Millisecond)
			if len(lines) != 1 || !server.conns[0].Paused() {
				t.Fatalf("pooled %v: %d lines while paused", pooled, len(lines))
			}
			for want := 2; want <= 3; want++ {
				server.conns[0].ResumeRead()
				e.runUntil("next line", 5*time.Second, func() bool { return len(lines) == want })
			}
			if strings.Join(lines, "") != "one\ntwo\nthree\n" {
				t.Errorf("pooled %v: lines %q", pooled, lines)
			}
			// New input after a resume is received again.
			server.conns[0].ResumeRead()
			client.conns[0].WriteString("four\n")
			e.runUntil("fourth line", 5*time.Second, func() bool { return len(lines) == 4 })
			client.conns[0].Close()
			e.runUntil("closed", 5*time.Second, func() bool { return server.closed == 1 && client.closed == 1 })
			ln.Close()
		}
	})
}
