package sim_test

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/sim"
)

// result records one operation's callback.
type result struct {
	calls int
	n     int
	err   error
}

func (r *result) onCount(_ *ioloop.Completion, n int, err error) { r.calls++; r.n, r.err = n, err }
func (r *result) onErr(_ *ioloop.Completion, err error)          { r.calls++; r.err = err }
func (r *result) done() bool                                     { return r.calls > 0 }

// pair connects a client on node a to a listener on node b and returns the
// two connected descriptors.
func pair(t testing.TB, w *sim.World, a, b *sim.Node) (clientFD, serverFD int) {
	t.Helper()
	lfd, bound, err := b.Loop().ListenTCP(netip.AddrPortFrom(b.Addr(), 0), ioloop.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := a.Loop().TCPSocket(bound)
	if err != nil {
		t.Fatal(err)
	}
	var accept, connect ioloop.Completion
	acc, con := &result{}, &result{}
	ioloop.Accept(b.Loop(), &accept, lfd, acc, (*result).onCount)
	ioloop.Connect(a.Loop(), &connect, fd, bound, con, (*result).onErr)
	runUntil(t, w, func() bool { return acc.done() && con.done() })
	if acc.err != nil || con.err != nil {
		t.Fatalf("accept %v, connect %v", acc.err, con.err)
	}
	if local, err := a.Loop().LocalAddr(fd); err != nil || local.Addr() != a.Addr() {
		t.Fatalf("client LocalAddr = %v, %v", local, err)
	}
	if remote, err := b.Loop().RemoteAddr(acc.n); err != nil || remote.Addr() != a.Addr() {
		t.Fatalf("server RemoteAddr = %v, %v", remote, err)
	}
	return fd, acc.n
}

func runUntil(t testing.TB, w *sim.World, done func() bool) {
	t.Helper()
	ok, err := w.RunUntil(time.Minute, done)
	if err != nil || !ok {
		t.Fatalf("world did not get there in a virtual minute: %v", err)
	}
}

func twoNodes(opts sim.Options) (*sim.World, *sim.Node, *sim.Node) {
	w := sim.NewWorld(opts)
	return w, w.AddNode("a"), w.AddNode("b")
}

func TestPartitionHoldsDataUntilHealed(t *testing.T) {
	w, a, b := twoNodes(sim.Options{Seed: 1})
	cfd, sfd := pair(t, w, a, b)
	w.Partition(a, b)
	var send, recv ioloop.Completion
	sent, got := &result{}, &result{}
	buf := make([]byte, 16)
	ioloop.Send(a.Loop(), &send, cfd, []byte("across the cut"), sent, (*result).onCount)
	ioloop.Recv(b.Loop(), &recv, sfd, buf, got, (*result).onCount)
	w.RunFor(10 * time.Second)
	if !sent.done() || got.done() {
		t.Fatalf("during the partition: sent %v, received %v (want sent, not received)", sent.done(), got.done())
	}
	w.Heal(a, b)
	runUntil(t, w, got.done)
	if got.err != nil || string(buf[:got.n]) != "across the cut" {
		t.Fatalf("after healing: %q, %v", buf[:got.n], got.err)
	}
}

func TestOneWayPartition(t *testing.T) {
	w, a, b := twoNodes(sim.Options{Seed: 2})
	cfd, sfd := pair(t, w, a, b)
	w.PartitionOneWay(a, b)
	var s1, s2, r1, r2 ioloop.Completion
	aToB, bToA, sentA, sentB := &result{}, &result{}, &result{}, &result{}
	bufA, bufB := make([]byte, 8), make([]byte, 8)
	ioloop.Send(a.Loop(), &s1, cfd, []byte("a->b"), sentA, (*result).onCount)
	ioloop.Send(b.Loop(), &s2, sfd, []byte("b->a"), sentB, (*result).onCount)
	ioloop.Recv(b.Loop(), &r1, sfd, bufB, aToB, (*result).onCount)
	ioloop.Recv(a.Loop(), &r2, cfd, bufA, bToA, (*result).onCount)
	w.RunFor(5 * time.Second)
	if aToB.done() || !bToA.done() {
		t.Fatalf("one-way cut a->b: a->b arrived %v, b->a arrived %v", aToB.done(), bToA.done())
	}
	w.HealAll()
	runUntil(t, w, aToB.done)
}

func TestConnectFailures(t *testing.T) {
	w, a, b := twoNodes(sim.Options{Seed: 3})
	connect := func(to netip.AddrPort) (error, time.Duration) {
		fd, err := a.Loop().TCPSocket(to)
		if err != nil {
			t.Fatal(err)
		}
		var c ioloop.Completion
		r := &result{}
		start := w.Elapsed()
		ioloop.Connect(a.Loop(), &c, fd, to, r, (*result).onErr)
		runUntil(t, w, r.done)
		return r.err, w.Elapsed() - start
	}
	if err, _ := connect(netip.AddrPortFrom(b.Addr(), 9)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect to a port nobody listens on: %v", err)
	}
	_, bound, err := b.Loop().ListenTCP(netip.AddrPortFrom(b.Addr(), 9), ioloop.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Partition(a, b)
	err, took := connect(bound)
	if !errors.Is(err, syscall.ETIMEDOUT) || took < 3*time.Second {
		t.Fatalf("connect across a partition: %v after %v, want ETIMEDOUT after the 3 s timeout", err, took)
	}
	if err, _ := connect(netip.MustParseAddrPort("10.9.9.9:9")); !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("connect to an address no node has: %v", err)
	}
	w.HealAll()
	if err, _ := connect(bound); err != nil {
		t.Fatalf("connect after healing: %v", err)
	}
}

func TestCrashResetsPeers(t *testing.T) {
	w, a, b := twoNodes(sim.Options{Seed: 4})
	cfd, _ := pair(t, w, a, b)
	var recv ioloop.Completion
	r := &result{}
	ioloop.Recv(a.Loop(), &recv, cfd, make([]byte, 8), r, (*result).onCount)
	w.RunFor(time.Second)
	if r.done() {
		t.Fatal("Recv completed with nothing sent")
	}
	b.Crash()
	runUntil(t, w, r.done)
	if !errors.Is(r.err, syscall.ECONNRESET) {
		t.Fatalf("peer's Recv after a crash: %v, want ECONNRESET", r.err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("using a crashed node's loop did not panic")
		}
	}()
	old := b.Loop()
	b.Restart()
	old.RunFor(time.Millisecond)
}

func TestCloseWithUnreadDataResetsPeer(t *testing.T) {
	w, a, b := twoNodes(sim.Options{Seed: 5})
	cfd, sfd := pair(t, w, a, b)
	var send, closeOp, recv ioloop.Completion
	sent, closed, got := &result{}, &result{}, &result{}
	ioloop.Send(a.Loop(), &send, cfd, []byte("unread"), sent, (*result).onCount)
	runUntil(t, w, sent.done)
	w.RunFor(time.Second) // let it arrive
	ioloop.Close(b.Loop(), &closeOp, sfd, closed, (*result).onErr)
	ioloop.Recv(a.Loop(), &recv, cfd, make([]byte, 8), got, (*result).onCount)
	runUntil(t, w, got.done)
	if !errors.Is(got.err, syscall.ECONNRESET) {
		t.Fatalf("Recv after the peer closed with unread data: %d, %v; want ECONNRESET", got.n, got.err)
	}
}

func TestResetFault(t *testing.T) {
	w, a, b := twoNodes(sim.Options{Seed: 6, Faults: sim.Faults{Reset: 1}})
	cfd, sfd := pair(t, w, a, b)
	var send, recv ioloop.Completion
	sent, got := &result{}, &result{}
	ioloop.Recv(b.Loop(), &recv, sfd, make([]byte, 8), got, (*result).onCount)
	ioloop.Send(a.Loop(), &send, cfd, []byte("x"), sent, (*result).onCount)
	runUntil(t, w, func() bool { return sent.done() && got.done() })
	if !errors.Is(sent.err, syscall.ECONNRESET) || !errors.Is(got.err, syscall.ECONNRESET) {
		t.Fatalf("with Reset=1: send %v, peer recv %v; want ECONNRESET on both", sent.err, got.err)
	}
}
