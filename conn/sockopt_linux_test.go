package conn_test

import (
	"testing"
	"time"

	"github.com/ioloop/ioloop/conn"
	"golang.org/x/sys/unix"
)

// The socket options reach both ends' sockets.
func TestSocketOptions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		if e.sim() {
			t.Skip("the simulator has no socket options")
		}
		noDelay := false
		opts := conn.Options{
			NoDelay:         &noDelay,
			KeepAlive:       conn.KeepAlive{Enable: true, Idle: 30 * time.Second, Interval: 1500 * time.Millisecond, Count: 4},
			SendBufferBytes: 64 << 10, RecvBufferBytes: 32 << 10,
			Linger: 3 * time.Second,
		}
		server := &recorder{}
		ln := e.listen(opts, server)
		client := &recorder{}
		dialPair(t, e, ln, server, opts, client)
		for side, c := range map[string]*conn.Conn{"server": server.conns[0], "client": client.conns[0]} {
			fd := c.FD()
			get := func(level, name int) int {
				v, err := unix.GetsockoptInt(fd, level, name)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			if v := get(unix.IPPROTO_TCP, unix.TCP_NODELAY); v != 0 {
				t.Errorf("%s: TCP_NODELAY %d", side, v)
			}
			if get(unix.SOL_SOCKET, unix.SO_KEEPALIVE) == 0 || get(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE) != 30 ||
				get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL) != 2 || get(unix.IPPROTO_TCP, unix.TCP_KEEPCNT) != 4 {
				t.Errorf("%s: keepalive not as set", side)
			}
			if v := get(unix.SOL_SOCKET, unix.SO_SNDBUF); v < 64<<10 { // Linux doubles it
				t.Errorf("%s: SO_SNDBUF %d", side, v)
			}
			if v := get(unix.SOL_SOCKET, unix.SO_RCVBUF); v < 32<<10 {
				t.Errorf("%s: SO_RCVBUF %d", side, v)
			}
			l, err := unix.GetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER)
			if err != nil || l.Onoff == 0 || l.Linger != 3 {
				t.Errorf("%s: SO_LINGER %+v, %v", side, l, err)
			}
		}
		// The default: TCP_NODELAY set, as Go's net package does.
		server2 := &recorder{}
		ln2 := e.listen(conn.Options{}, server2)
		client2 := &recorder{}
		dialPair(t, e, ln2, server2, conn.Options{}, client2)
		for _, c := range []*conn.Conn{server2.conns[0], client2.conns[0]} {
			if v, _ := unix.GetsockoptInt(c.FD(), unix.IPPROTO_TCP, unix.TCP_NODELAY); v == 0 {
				t.Error("TCP_NODELAY not set by default")
			}
		}
	})
}
