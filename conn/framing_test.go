package conn_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/conn"
)

// later runs fn on the loop after d.
type later struct {
	op ioloop.Completion
	fn func()
}

func after(e *env, d time.Duration, fn func()) {
	l := &later{fn: fn}
	ioloop.Timeout(e.loop, &l.op, d, l, func(l *later, _ *ioloop.Completion, err error) {
		if err == nil {
			l.fn()
		}
	})
}

// A frame split across reads waits in the buffer; frames pipelined in one
// write are all delivered; Next and Peek read exactly N.
func TestFramesAcrossReadsAndPipelined(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, pooled := range []bool{false, true} {
			var opts conn.Options
			if pooled {
				pool, err := ioloopPool(e, 8, 16) // small buffers: a frame spans several
				if err != nil {
					t.Fatal(err)
				}
				opts.Pool = pool
			}
			// Server frames: a 4-byte length prefix (Peek, Next), then the payload.
			var frames []string
			server := &recorder{}
			server.onData = func(c *conn.Conn) {
				for {
					hdr := c.Peek(4)
					if hdr == nil {
						return
					}
					n := int(hdr[0]-'0')*1000 + int(hdr[1]-'0')*100 + int(hdr[2]-'0')*10 + int(hdr[3]-'0')
					if c.Buffered() < 4+n {
						return
					}
					c.Discard(4)
					frames = append(frames, string(c.Next(n)))
				}
			}
			ln := e.listen(opts, server)
			client := &recorder{}
			var cl *conn.Conn
			client.onOpen = func(c *conn.Conn) {
				cl = c
				c.WriteString("0005hello0003abc0040" + strings.Repeat("x", 20)) // two whole frames and half of one
			}
			if _, err := conn.Dial(e.loop, "tcp", ln.Addr(), conn.Options{}, client); err != nil {
				t.Fatal(err)
			}
			e.runUntil("first frames", 5*time.Second, func() bool { return len(frames) == 2 })
			e.runFor(20 * time.Millisecond)
			if len(frames) != 2 {
				t.Fatalf("pooled %v: %d frames before the rest was sent", pooled, len(frames))
			}
			cl.WriteString(strings.Repeat("y", 20) + "00")
			after(e, 10*time.Millisecond, func() { cl.WriteString("01z") })
			e.runUntil("all frames", 5*time.Second, func() bool { return len(frames) == 4 })
			want := []string{"hello", "abc", strings.Repeat("x", 20) + strings.Repeat("y", 20), "z"}
			for i := range want {
				if frames[i] != want[i] {
					t.Errorf("pooled %v: frame %d = %q, want %q", pooled, i, frames[i], want[i])
				}
			}
			cl.Close()
			ln.Close()
			e.runUntil("closed", 5*time.Second, func() bool { return server.closed == 1 && client.closed == 1 })
		}
	})
}

func TestReadUntilAndMaxInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		server := &lineEcho{}
		ln := e.listen(conn.Options{MaxInputBytes: 100, ReadBufferBytes: 16}, server)
		client := &recorder{}
		long := strings.Repeat("a", 99) + "\n" // exactly the limit: fits
		client.onOpen = func(c *conn.Conn) { c.WriteString(long + "a\nb\n" + strings.Repeat("c", 200)) }
		if _, err := conn.Dial(e.loop, "tcp", ln.Addr(), conn.Options{}, client); err != nil {
			t.Fatal(err)
		}
		e.runUntil("closed", 5*time.Second, func() bool { return server.closed == 1 && client.closed == 1 })
		if string(client.got) != long+"a\nb\n" {
			t.Errorf("got %q", client.got)
		}
		if !errors.Is(server.reasons[0], conn.ErrInputTooLarge) {
			t.Errorf("server's reason %v, want ErrInputTooLarge", server.reasons[0])
		}
	})
}

// Writes made in one OnData leave in one send; a queue of several
// segments in one vectored send.
func TestWriteCoalescing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		sends := func() uint64 {
			st := e.loop.Stats()
			return st.Op("Send").Submitted + st.Op("SendMsg").Submitted + st.Op("Writev").Submitted
		}
		var sendsInReply uint64
		server := &recorder{}
		server.onData = func(c *conn.Conn) {
			c.Discard(c.Buffered())
			before := sends()
			for i := range 100 {
				c.WriteString(string(rune('a'+i%26)) + "123456789")
			}
			// OnData has not returned: nothing sent yet.
			if n := sends() - before; n != 0 {
				t.Errorf("%d sends before OnData returned", n)
			}
			sendsInReply = before
		}
		ln := e.listen(conn.Options{}, server)
		client := &recorder{}
		client.onOpen = func(c *conn.Conn) { c.WriteString("go") }
		if _, err := conn.Dial(e.loop, "tcp", ln.Addr(), conn.Options{}, client); err != nil {
			t.Fatal(err)
		}
		e.runUntil("reply", 5*time.Second, func() bool { return len(client.got) == 1000 })
		if n := sends() - sendsInReply; n != 1 {
			t.Errorf("1000 bytes in 100 Writes took %d sends, want 1", n)
		}

		// Vectored: 40 KiB in 10 Writes spans several 8 KiB segments.
		client.got = nil
		var want bytes.Buffer
		for i := range 10 {
			want.Write(bytes.Repeat([]byte{byte('A' + i)}, 4096))
		}
		server.onData = func(c *conn.Conn) {
			c.Discard(c.Buffered())
			sendsInReply = sends()
			for i := range 10 {
				c.Write(want.Bytes()[i*4096 : (i+1)*4096])
			}
		}
		vectoredSends := func() uint64 {
			st := e.loop.Stats()
			return st.Op("SendMsg").Submitted + st.Op("Writev").Submitted
		}
		vectoredBefore := vectoredSends()
		client.conns[0].WriteString("again")
		e.runUntil("big reply", 5*time.Second, func() bool { return len(client.got) == want.Len() })
		if !bytes.Equal(client.got, want.Bytes()) {
			t.Fatal("vectored reply corrupted")
		}
		vectored := vectoredSends() - vectoredBefore
		if vectored < 1 {
			t.Errorf("no vectored send for a 40 KiB queue")
		}
		if n := sends() - sendsInReply; n > 6 { // one, plus the continuations of short sends
			t.Errorf("40 KiB in 10 Writes took %d sends", n)
		}
		t.Logf("40 KiB in 10 Writes: %d sends, %d vectored", sends()-sendsInReply, vectored)
	})
}

// A large transfer both ways arrives intact, through queue segments and
// short sends.
func TestLargeTransfer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		payload := make([]byte, 3<<20)
		for i := range payload {
			payload[i] = byte(i * 7 / 3)
		}
		server := &recorder{}
		server.onData = func(c *conn.Conn) {
			if _, err := c.Write(c.Input()); err != nil {
				t.Errorf("server Write: %v", err)
			}
			c.Discard(c.Buffered())
		}
		ln := e.listen(conn.Options{}, server)
		client := &recorder{}
		client.onOpen = func(c *conn.Conn) {
			if _, err := c.Write(payload); err != nil {
				t.Errorf("client Write: %v", err)
			}
		}
		if _, err := conn.Dial(e.loop, "tcp", ln.Addr(), conn.Options{}, client); err != nil {
			t.Fatal(err)
		}
		e.runUntil("echo", 20*time.Second, func() bool { return len(client.got) >= len(payload) })
		if !bytes.Equal(client.got, payload) {
			t.Fatal("payload corrupted")
		}
	})
}
