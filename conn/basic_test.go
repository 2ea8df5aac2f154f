package conn_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/ioloop/ioloop/conn"
)

func TestLineEcho(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, pooled := range []bool{false, true} {
			var opts conn.Options
			if pooled {
				pool, err := ioloopPool(e, 16, 64)
				if err != nil {
					t.Fatal(err)
				}
				opts.Pool = pool
			}
			baseline := e.openFDs()
			server := &lineEcho{}
			ln := e.listen(opts, server)
			client := &recorder{}
			client.onOpen = func(c *conn.Conn) {
				c.Write([]byte("hello\nwor"))
				c.Write([]byte("ld\npartial"))
			}
			c, err := conn.Dial(e.loop, "tcp", ln.Addr(), opts, client)
			if err != nil {
				t.Fatal(err)
			}
			e.runUntil("echo", 5*time.Second, func() bool { return len(client.got) >= len("hello\nworld\n") })
			if got := string(client.got); got != "hello\nworld\n" {
				t.Fatalf("pooled %v: got %q", pooled, got)
			}
			c.Close()
			e.runUntil("close", 5*time.Second, func() bool { return client.closed == 1 && server.closed == 1 })
			if client.reasons[0] != nil {
				t.Errorf("client's reason %v, want nil", client.reasons[0])
			}
			if server.reasons[0] != io.EOF {
				t.Errorf("server's reason %v, want io.EOF", server.reasons[0])
			}
			ln.Close()
			e.runUntil("listener closed", 5*time.Second, func() bool { return ln.FD() < 0 })
			if n := e.openFDs(); n != baseline {
				t.Errorf("pooled %v: %d descriptors open, %d before", pooled, n, baseline)
			}
			_ = bytes.MinRead
		}
	})
}
