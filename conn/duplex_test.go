package conn_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ioloop/ioloop/conn"
)

// A client that pipelines without reading the replies: by default the
// server stops receiving while a reply cannot be sent, so its write queue
// stays small and TCP slows the client; with FullDuplex it keeps
// receiving, and its queue grows until MaxQueuedBytes refuses writes.
func TestBackPressureAndFullDuplex(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, fullDuplex := range []bool{false, true} {
			var srv *conn.Conn
			maxQueued, queueFull := 0, 0
			server := &recorder{}
			server.onOpen = func(c *conn.Conn) { srv = c }
			server.onData = func(c *conn.Conn) {
				in := c.Input()
				if _, err := c.Write(in); errors.Is(err, conn.ErrWriteQueueFull) {
					queueFull++
				}
				c.Discard(len(in))
				maxQueued = max(maxQueued, c.Queued())
			}
			const limit = 4 << 20
			ln := e.listen(conn.Options{FullDuplex: fullDuplex, MaxQueuedBytes: limit, SendBufferBytes: 64 << 10}, server)
			client := &recorder{}
			var cl *conn.Conn
			client.onOpen = func(c *conn.Conn) { cl = c; c.PauseRead() } // never reads the replies
			if _, err := conn.Dial(e.loop, "tcp", ln.Addr(), conn.Options{MaxQueuedBytes: 64 << 20, RecvBufferBytes: 64 << 10}, client); err != nil {
				t.Fatal(err)
			}
			e.runUntil("open", 5*time.Second, func() bool { return cl != nil && srv != nil })
			chunk := make([]byte, 64<<10)
			for range 256 { // 16 MiB of requests
				if _, err := cl.Write(chunk); err != nil {
					t.Fatal(err)
				}
			}
			e.runFor(300 * time.Millisecond)
			// A full-duplex server fills its queue as fast as the client's
			// requests arrive, which under wine takes longer than 300 ms:
			// give it up to 5 s more.
			for wait := 0; fullDuplex && queueFull == 0 && wait < 100; wait++ {
				e.runFor(50 * time.Millisecond)
			}
			t.Logf("FullDuplex %v: server queue peaked at %d bytes, %d writes refused, client still queues %d", fullDuplex, maxQueued, queueFull, cl.Queued())
			if !fullDuplex && (queueFull != 0 || maxQueued > 1<<20) {
				t.Errorf("default: the server queued up to %d bytes and refused %d writes; want it to stop receiving instead", maxQueued, queueFull)
			}
			if fullDuplex && queueFull == 0 {
				t.Errorf("FullDuplex: the server never filled its queue (peak %d)", maxQueued)
			}
			cl.Abort(nil)
			srv.Abort(nil)
			ln.Close()
			e.runUntil("closed", 5*time.Second, func() bool { return client.closed == 1 && server.closed == 1 })
		}
	})
}
