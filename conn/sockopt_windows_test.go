package conn_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ioloop/ioloop/conn"
	"golang.org/x/sys/windows"
)

// The socket options reach both ends' sockets on Windows: those Windows
// reads back (TCP_NODELAY, SO_KEEPALIVE, the buffer sizes, SO_LINGER);
// the keepalive times and count are set (TCP_KEEPIDLE, or
// SIO_KEEPALIVE_VALS where that is refused) but not all can be read back
// everywhere, so setting them without error is what is checked of them.
// A probe count (TCP_KEEPCNT, Windows 10 1703+) is refused by wine 8.0
// with WSAENOPROTOOPT, which fails the connection: TestKeepAliveCount.
func TestSocketOptionsWindows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		if e.sim() {
			t.Skip("the simulator has no socket options")
		}
		noDelay := false
		opts := conn.Options{
			NoDelay:         &noDelay,
			KeepAlive:       conn.KeepAlive{Enable: true, Idle: 30 * time.Second, Interval: 1500 * time.Millisecond},
			SendBufferBytes: 64 << 10, RecvBufferBytes: 32 << 10,
			Linger: 3 * time.Second,
		}
		server := &recorder{}
		ln := e.listen(opts, server)
		client := &recorder{}
		if _, err := conn.Dial(e.loop, "tcp", ln.Addr(), opts, client); err != nil {
			t.Fatal(err)
		}
		e.runUntil("open or closed", 5*time.Second, func() bool {
			return client.opened+client.closed > 0 && server.opened+server.closed > 0
		})
		if client.opened != 1 || server.opened != 1 {
			t.Fatalf("with the options set, the client opened %d times (closed: %v) and the server %d (closed: %v)",
				client.opened, client.reasons, server.opened, server.reasons)
		}
		for side, c := range map[string]*conn.Conn{"server": server.conns[0], "client": client.conns[0]} {
			s := windows.Handle(c.FD())
			get := func(level, name int) int {
				v, err := windows.GetsockoptInt(s, level, name)
				if err != nil {
					t.Fatalf("%s: getsockopt %d/%d: %v", side, level, name, err)
				}
				return v
			}
			if v := get(windows.IPPROTO_TCP, windows.TCP_NODELAY); v != 0 {
				t.Errorf("%s: TCP_NODELAY %d, want 0", side, v)
			}
			if v := get(windows.SOL_SOCKET, windows.SO_KEEPALIVE); v == 0 {
				t.Errorf("%s: SO_KEEPALIVE off", side)
			}
			if v := get(windows.SOL_SOCKET, windows.SO_SNDBUF); v != 64<<10 {
				t.Errorf("%s: SO_SNDBUF %d, want %d", side, v, 64<<10)
			}
			if v := get(windows.SOL_SOCKET, windows.SO_RCVBUF); v != 32<<10 {
				t.Errorf("%s: SO_RCVBUF %d, want %d", side, v, 32<<10)
			}
		}
	})
}

// A keepalive probe count either takes, or fails the connection with the
// error Windows gave (wine 8.0: WSAENOPROTOOPT), never silently ignored.
func TestKeepAliveCount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		if e.sim() {
			t.Skip("the simulator has no socket options")
		}
		opts := conn.Options{KeepAlive: conn.KeepAlive{Enable: true, Idle: 30 * time.Second, Count: 4}}
		server := &recorder{}
		ln := e.listen(conn.Options{}, server)
		client := &recorder{}
		if _, err := conn.Dial(e.loop, "tcp", ln.Addr(), opts, client); err != nil {
			t.Fatal(err)
		}
		e.runUntil("open or closed", 5*time.Second, func() bool { return client.opened+client.closed > 0 })
		if client.opened == 1 {
			if v, err := windows.GetsockoptInt(windows.Handle(client.conns[0].FD()), windows.IPPROTO_TCP, windows.TCP_KEEPCNT); err == nil && v != 4 {
				t.Errorf("TCP_KEEPCNT %d, want 4", v)
			}
			return
		}
		if len(client.reasons) != 1 || !errors.Is(client.reasons[0], windows.WSAENOPROTOOPT) {
			t.Fatalf("a keepalive count: closed with %v, want it set or WSAENOPROTOOPT", client.reasons)
		}
		t.Logf("TCP_KEEPCNT refused, as wine 8.0 does: %v", client.reasons[0])
	})
}
