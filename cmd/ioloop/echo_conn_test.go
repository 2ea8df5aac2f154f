//go:build !windows

package main

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestBenchEchoServerConn runs `bench echo -server conn` end to end, as
// the other servers' tests do.
func TestBenchEchoServerConn(t *testing.T) { testBenchEchoServer(t, serverConn, false) }

// TestEchoCommandConn runs `ioloop echo -server conn` on epoll and
// io_uring in a child process: it must announce itself,
// echo, and end cleanly on SIGTERM with a summary that counted the
// connection.
func TestEchoCommandConn(t *testing.T) {
	t.Setenv(cliEnv, "1")
	for _, backend := range []string{"epoll", "io_uring"} {
		if backend == "io_uring" {
			requireIOURing(t)
		}
		var b backendFlag
		if err := b.Set(backend); err != nil {
			t.Fatal(err)
		}
		p, err := startServerProcess(serverConn, b, netip.MustParseAddrPort("127.0.0.1:0"), -1, false, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer p.cleanup()
		if p.backend != backend {
			t.Errorf("backend %q, want %q", p.backend, backend)
		}
		c, err := net.DialTimeout("tcp", p.addr.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		for _, msg := range []string{"hello", "world, again"} {
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
				t.Errorf("%s: echoed %q, %v", backend, got, err)
			}
		}
		_ = c.Close()
		if err := p.stop(); err != nil {
			t.Fatal(err)
		}
		if out := p.stdout.String(); !strings.Contains(out, " server=conn ") || !strings.Contains(out, "\nsummary connections=1 ") {
			t.Errorf("%s: printed %q", backend, out)
		}
	}
}
