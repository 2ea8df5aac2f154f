package main

import (
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// echoPair is the echo server and the load generator, each on its own loop,
// both driven from the test goroutine with non-blocking Ticks.
type echoPair struct {
	srv      *echoServer
	cl       *echoClient
	listenFD int
}

func newEchoPair(t *testing.T, conns int) *echoPair {
	t.Helper()
	requireIOURing(t)
	listenFD, bound, err := ioloop.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ioloop.ListenOptions{NoDelay: true})
	if err != nil {
		t.Fatal(err)
	}
	srvLoop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cliLoop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := &echoPair{srv: newEchoServer(srvLoop, listenFD, 4096), cl: newEchoClient(cliLoop, bound, conns, 64), listenFD: listenFD}
	// Whatever a failing test left open; Close of a closed loop is a no-op
	// returning ErrClosed.
	t.Cleanup(func() {
		_ = p.cl.loop.Close()
		p.cl.closeAll()
		_ = p.srv.loop.Close()
		p.closeListener(t)
	})
	p.srv.start()
	if err := p.cl.connectAll(); err != nil {
		t.Fatal(err)
	}
	p.driveUntil(t, func() bool { return p.cl.connected == conns && p.srv.active == int64(conns) })
	return p
}

func (p *echoPair) tick(t *testing.T) {
	if err := p.srv.loop.Tick(); err != nil {
		t.Fatal(err)
	}
	if err := p.cl.loop.Tick(); err != nil {
		t.Fatal(err)
	}
	if p.cl.err != nil {
		t.Fatal(p.cl.err)
	}
	if p.srv.fatal != nil {
		t.Fatal(p.srv.fatal)
	}
}

func (p *echoPair) driveUntil(t *testing.T, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: client connected=%d messages=%d, server active=%d messages=%d",
				p.cl.connected, p.cl.messages, p.srv.active, p.srv.messages)
		}
		p.tick(t)
	}
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}

// TestEchoSteadyStateDoesNotAllocate is the zero-allocation promise of the
// echo server and of the load generator: once connections exist (and the
// server's pool holds their structs), a message costs no allocation on
// either side.
func TestEchoSteadyStateDoesNotAllocate(t *testing.T) {
	fdsBefore := openFDs(t)
	p := newEchoPair(t, 8)
	p.cl.measuring = true
	p.cl.startAll()
	p.driveUntil(t, func() bool { return p.cl.messages >= 1000 })

	allocs := testing.AllocsPerRun(20, func() {
		target := p.cl.messages + 200
		p.driveUntil(t, func() bool { return p.cl.messages >= target })
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 200 echoed messages, want 0", allocs)
	}
	if p.srv.bytes < p.cl.messages*64 {
		t.Errorf("server echoed %d bytes, fewer than the client's %d messages of 64", p.srv.bytes, p.cl.messages)
	}

	// The client leaves first: the server sees EOF and closes with the
	// Close operation, returning connection structs to its pool.
	p.cl.stopping = true
	if err := p.cl.loop.Close(); err != nil {
		t.Fatal(err)
	}
	p.cl.closeAll()
	p.driveServerUntil(t, func() bool { return p.srv.active == 0 })
	pooled := 0
	for c := p.srv.free; c != nil; c = c.next {
		pooled++
	}
	if pooled != 8 {
		t.Errorf("%d connection structs in the pool, want 8", pooled)
	}
	if err := p.srv.loop.Close(); err != nil {
		t.Fatal(err)
	}
	p.closeListener(t)
	if fdsAfter := openFDs(t); fdsAfter != fdsBefore {
		t.Errorf("%d descriptors open after the test, %d before", fdsAfter, fdsBefore)
	}
}

func (p *echoPair) closeListener(t *testing.T) {
	if p.listenFD < 0 {
		return
	}
	if err := unix.Close(p.listenFD); err != nil {
		t.Error(err)
	}
	p.listenFD = -1
}

func (p *echoPair) driveServerUntil(t *testing.T, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: server active=%d", p.srv.active)
		}
		if err := p.srv.loop.Tick(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEchoServeClosesLiveConnections stops the server while connections
// are open: Loop.Close cancels their Recvs, and each connection's close
// path must still close its descriptor, which the client sees as EOF.
func TestEchoServeClosesLiveConnections(t *testing.T) {
	p := newEchoPair(t, 4)
	signals := make(chan os.Signal, 2)
	signals <- syscall.SIGUSR1
	signals <- syscall.SIGTERM
	var out strings.Builder
	if err := p.srv.serve(signals, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "stats connections=4 active=4 ") {
		t.Errorf("SIGUSR1 printed %q", out.String())
	}
	if p.srv.active != 0 {
		t.Errorf("%d connections still active after serve returned", p.srv.active)
	}
	p.cl.startAll()
	deadline := time.Now().Add(10 * time.Second)
	for p.cl.err == nil && time.Now().Before(deadline) {
		if err := p.cl.loop.Tick(); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.cl.err; err == nil || !(strings.Contains(err.Error(), "closed") || strings.Contains(err.Error(), "reset")) {
		t.Errorf("client error after server shutdown = %v, want the connection closed", p.cl.err)
	}
}
