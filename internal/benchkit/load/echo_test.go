//go:build !windows

package load

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/serve"
	"golang.org/x/sys/unix"
)

// echoPair is the echo server and the load generator, each on its own
// loop, both driven from the test goroutine with non-blocking Ticks.
type echoPair struct {
	srv      *serve.Echo
	cl       *Client
	listenFD int
}

func newEchoPair(t *testing.T, conns int) *echoPair {
	t.Helper()
	listenFD, bound, err := ioloop.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ioloop.ListenOptions{NoDelay: true})
	if err != nil {
		t.Fatal(err)
	}
	srvLoop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		var setupErr *ioloop.SetupError
		if errors.As(err, &setupErr) {
			t.Skipf("no loop here: %s", setupErr.Reason)
		}
		t.Fatal(err)
	}
	cliLoop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := &echoPair{srv: serve.NewEcho(srvLoop, listenFD, 4096), cl: NewEchoClient(cliLoop, bound, conns, 64), listenFD: listenFD}
	// Whatever a failing test left open; Close of a closed loop is a no-op
	// returning ErrClosed.
	t.Cleanup(func() {
		_ = p.cl.Close()
		_ = p.srv.Loop.Close()
		p.closeListener(t)
	})
	p.srv.Start()
	for range min(connectDepth, conns) {
		p.cl.connectNext()
	}
	p.driveUntil(t, func() bool { return p.cl.connected == conns && p.srv.Stats().Active == int64(conns) })
	return p
}

func (p *echoPair) tick(t *testing.T) {
	if err := p.srv.Loop.Tick(); err != nil {
		t.Fatal(err)
	}
	if err := p.cl.loop.Tick(); err != nil {
		t.Fatal(err)
	}
	if p.cl.err != nil {
		t.Fatal(p.cl.err)
	}
	if err := p.srv.Fatal(); err != nil {
		t.Fatal(err)
	}
}

func (p *echoPair) driveUntil(t *testing.T, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: client connected=%d messages=%d, server %+v", p.cl.connected, p.cl.messages, p.srv.Stats())
		}
		p.tick(t)
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

// TestEchoSteadyStateDoesNotAllocate is the zero-allocation promise of the
// echo server and of the load generator: once connections exist (and the
// server's pool holds their structs), a message costs no allocation on
// either side, latency recording included.
func TestEchoSteadyStateDoesNotAllocate(t *testing.T) {
	p := newEchoPair(t, 8)
	p.cl.measuring = true
	p.cl.StartAll()
	p.driveUntil(t, func() bool { return p.cl.messages >= 1000 })

	allocs := testing.AllocsPerRun(20, func() {
		target := p.cl.messages + 200
		p.driveUntil(t, func() bool { return p.cl.messages >= target })
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 200 echoed messages, want 0", allocs)
	}
	if st := p.srv.Stats(); st.Bytes < p.cl.messages*64 {
		t.Errorf("server echoed %d bytes, fewer than the client's %d messages of 64", st.Bytes, p.cl.messages)
	}
	if p.cl.latency.Count() < 1000 {
		t.Errorf("%d latencies recorded, want one per message", p.cl.latency.Count())
	}

	// The client leaves first: the server sees EOF and closes with the
	// Close operation, returning connection structs to its pool.
	if err := p.cl.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.srv.Stats().Active != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: server %+v", p.srv.Stats())
		}
		if err := p.srv.Loop.Tick(); err != nil {
			t.Fatal(err)
		}
	}
	if pooled := p.srv.Pooled(); pooled != 8 {
		t.Errorf("%d connection structs in the pool, want 8", pooled)
	}
	if err := p.srv.Loop.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOneEachIdles checks the memory workload's mode: every connection
// makes exactly one round trip and then stays idle.
func TestOneEachIdles(t *testing.T) {
	p := newEchoPair(t, 4)
	p.cl.StartOneEach()
	p.driveUntil(t, func() bool { return p.cl.Finished() == 4 })
	for range 50 {
		p.tick(t)
	}
	if p.cl.messages != 4 {
		t.Errorf("%d round trips, want one per connection", p.cl.messages)
	}
}
