//go:build !windows

package main

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
)

// allocClient is a client on the server's own loop, made of plain ioloop
// operations (which allocate nothing), so that AllocsPerRun counts the
// server's path: the connection layer, the parser, the command and the
// reply.
type allocClient struct {
	l          *ioloop.Loop
	fd         int
	send, recv ioloop.Completion
	buf        []byte
	got, want  int
	err        error
}

func (c *allocClient) onSent(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		c.err = err
	}
}

func (c *allocClient) onRecv(_ *ioloop.Completion, n int, err error) {
	if err != nil {
		c.err = err
		return
	}
	c.got += n
	if c.got < c.want {
		ioloop.Recv(c.l, &c.recv, c.fd, c.buf[c.got:], c, (*allocClient).onRecv)
	}
}

// TestAllocsPerRequestOverTCP: a pipelined SET of an existing key and a
// GET, through a real socket, allocate nothing in steady state on
// io_uring and epoll, with a buffer per connection and with a pool.
func TestAllocsPerRequestOverTCP(t *testing.T) {
	forKernelBackends(t, func(t *testing.T, backend ioloop.Backend) {
		for _, pooled := range []bool{false, true} {
			l := newTestLoop(t, backend)
			opts := connOptions()
			if pooled {
				pool, err := ioloop.NewBufferPool(l, 16, 16<<10)
				if err != nil {
					t.Fatal(err)
				}
				opts.Pool = pool
			}
			in := startInstance(l, "127.0.0.1:0", "", fsyncNo, false, opts, nil)
			runLoopUntil(t, l, func() bool { return in.net != nil })
			addr := netip.MustParseAddrPort(in.net.ln.Addr())
			fd, err := l.TCPSocket(addr)
			if err != nil {
				t.Fatal(err)
			}
			connected := false
			var connect ioloop.Completion
			ioloop.Connect(l, &connect, fd, addr, &connected, func(ok *bool, _ *ioloop.Completion, err error) { *ok = err == nil })
			runLoopUntil(t, l, func() bool { return connected })

			req := appendCommand(nil, []byte("SET"), []byte("key:000000000042"), []byte("xxx"))
			req = appendCommand(req, []byte("GET"), []byte("key:000000000042"))
			c := &allocClient{l: l, fd: fd, buf: make([]byte, 256), want: len("+OK\r\n$3\r\nxxx\r\n")}
			roundTrip := func() {
				c.got = 0
				ioloop.Send(l, &c.send, fd, req, c, (*allocClient).onSent)
				ioloop.Recv(l, &c.recv, fd, c.buf, c, (*allocClient).onRecv)
				for (c.got < c.want || c.send.Pending()) && c.err == nil {
					if err := l.RunFor(time.Millisecond); err != nil {
						t.Fatal(err)
					}
				}
			}
			for range 50 {
				roundTrip()
			}
			allocs := testing.AllocsPerRun(300, roundTrip)
			if c.err != nil || string(c.buf[:c.got]) != "+OK\r\n$3\r\nxxx\r\n" {
				t.Fatalf("replies %q, %v", c.buf[:c.got], c.err)
			}
			t.Logf("pool %v: %.2f allocations per round trip", pooled, allocs)
			if allocs != 0 && !raceEnabled {
				t.Errorf("pool %v: %.2f allocations per SET+GET round trip, want 0", pooled, allocs)
			}
		}
	})
}
