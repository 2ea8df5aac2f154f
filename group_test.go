package ioloop

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestGroupEchoAcrossShards runs an echo server on a group of loops with
// one SO_REUSEPORT listener each, and checks that connections reach every
// loop and are served on it.
func TestGroupEchoAcrossShards(t *testing.T) {
	const loops = 2
	fds, addr, err := ListenTCPShards(netip.MustParseAddrPort("127.0.0.1:0"), loops, ListenOptions{})
	if errors.Is(err, syscall.EOPNOTSUPP) && runtime.GOOS == "windows" {
		t.Skip("no SO_REUSEPORT on Windows (ListenOptions.ReusePort: EOPNOTSUPP)")
	}
	if err != nil {
		t.Fatal(err)
	}
	servers := make([]*groupEcho, loops)
	g, err := StartGroup(GroupOptions{Loops: loops, Stopping: func(l *Loop, i int) {
		_ = sysCloseFD(servers[i].listenFD)
	}}, func(l *Loop, i int) error {
		servers[i] = &groupEcho{l: l, listenFD: fds[i]}
		Accept(l, &servers[i].accept, fds[i], servers[i], (*groupEcho).onAccept)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 64 {
		conn, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte("hello")
		if _, err := conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := conn.Read(got); err != nil || string(got) != "hello" {
			t.Fatalf("echo: %q %v", got, err)
		}
		conn.Close()
	}
	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for i, s := range servers {
		if s.accepted.Load() == 0 {
			t.Errorf("loop %d accepted no connection (SO_REUSEPORT should spread 64)", i)
		}
		t.Logf("loop %d accepted %d", i, s.accepted.Load())
	}
	if err := g.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

type groupEcho struct {
	l        *Loop
	listenFD int
	accept   Completion
	accepted atomic.Int64
}

type groupEchoConn struct {
	s   *groupEcho
	fd  int
	c   Completion
	buf [64]byte
}

func (s *groupEcho) onAccept(_ *Completion, fd int, err error) {
	if err != nil {
		return // canceled by Close
	}
	s.accepted.Add(1)
	conn := &groupEchoConn{s: s, fd: fd}
	Recv(s.l, &conn.c, fd, conn.buf[:], conn, (*groupEchoConn).onRecv)
	Accept(s.l, &s.accept, s.listenFD, s, (*groupEcho).onAccept)
}

func (c *groupEchoConn) onRecv(_ *Completion, n int, err error) {
	if err != nil {
		Close(c.s.l, &c.c, c.fd, c, func(*groupEchoConn, *Completion, error) {})
		return
	}
	Send(c.s.l, &c.c, c.fd, c.buf[:n], c, (*groupEchoConn).onSend)
}

func (c *groupEchoConn) onSend(_ *Completion, _ int, err error) {
	if err != nil {
		Close(c.s.l, &c.c, c.fd, c, func(*groupEchoConn, *Completion, error) {})
		return
	}
	Recv(c.s.l, &c.c, c.fd, c.buf[:], c, (*groupEchoConn).onRecv)
}

func TestGroupSetupFailure(t *testing.T) {
	before := runtime.NumGoroutine()
	boom := errors.New("boom")
	_, err := StartGroup(GroupOptions{Loops: 3}, func(l *Loop, i int) error {
		if i == 1 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("StartGroup: %v, want boom", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left, %d before", n, before)
	}
}
