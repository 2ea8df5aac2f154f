package sim_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/sim"
)

// ledger counts submissions and callbacks, and fails on a second callback
// for one submission.
type ledger struct {
	t         *testing.T
	submitted int
	called    int
}

// peer is one end of a ping-pong connection with a watchdog that cancels
// a Recv that waits too long.
type peer struct {
	led      *ledger
	l        *ioloop.Loop
	fd       int
	buf      [4096]byte
	msgSize  int
	rounds   int
	op       ioloop.Completion
	watchdog ioloop.Completion
	cancel   ioloop.Completion
	closeOp  ioloop.Completion
	closed   bool
	inflight map[*ioloop.Completion]bool
}

func (p *peer) track(c *ioloop.Completion) {
	if p.inflight[c] {
		p.led.t.Fatal("a Completion was submitted while in flight")
	}
	p.inflight[c] = true
	p.led.submitted++
}

func (p *peer) untrack(c *ioloop.Completion) {
	if !p.inflight[c] {
		p.led.t.Fatal("a callback ran for a Completion that was not in flight (a second callback?)")
	}
	delete(p.inflight, c)
	p.led.called++
}

func (p *peer) recv() {
	p.track(&p.op)
	ioloop.Recv(p.l, &p.op, p.fd, p.buf[:], p, (*peer).onRecv)
	if !p.watchdog.Pending() {
		p.track(&p.watchdog)
		ioloop.Timeout(p.l, &p.watchdog, 50*time.Millisecond, p, (*peer).onWatchdog)
	}
}

func (p *peer) onWatchdog(c *ioloop.Completion, _ error) {
	p.untrack(c)
	if p.op.Pending() && !p.cancel.Pending() {
		p.track(&p.cancel)
		ioloop.Cancel(p.l, &p.cancel, &p.op, p, func(p *peer, c *ioloop.Completion, _ error) { p.untrack(c) })
	}
}

func (p *peer) onRecv(c *ioloop.Completion, n int, err error) {
	p.untrack(c)
	if err != nil {
		p.shut()
		return
	}
	p.rounds++
	p.track(&p.op)
	ioloop.Send(p.l, &p.op, p.fd, p.buf[:n], p, (*peer).onSend)
}

func (p *peer) onSend(c *ioloop.Completion, _ int, err error) {
	p.untrack(c)
	if err != nil {
		p.shut()
		return
	}
	p.recv()
}

func (p *peer) shut() {
	if p.closed {
		return
	}
	p.closed = true
	p.track(&p.closeOp)
	ioloop.Close(p.l, &p.closeOp, p.fd, p, func(p *peer, c *ioloop.Completion, _ error) { p.untrack(c) })
}

// TestExactlyOneCallbackUnderFaults runs ping-pong traffic between three
// nodes with every network fault on, cancels Recvs that wait too long,
// closes every loop with work in flight, and checks that every submitted
// operation got exactly one callback.
func TestExactlyOneCallbackUnderFaults(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		faults := sim.DefaultFaults()
		faults.PartitionRate = 2
		w := sim.NewWorld(sim.Options{Seed: seed, Faults: faults})
		nodes := []*sim.Node{w.AddNode("a"), w.AddNode("b"), w.AddNode("c")}
		led := &ledger{t: t}
		var peers []*peer
		newPeer := func(l *ioloop.Loop, fd int) *peer {
			p := &peer{led: led, l: l, fd: fd, inflight: map[*ioloop.Completion]bool{}}
			peers = append(peers, p)
			return p
		}
		type acceptor struct {
			l   *ioloop.Loop
			lfd int
			op  ioloop.Completion
		}
		var acceptors []*acceptor
		var onAccept func(a *acceptor, c *ioloop.Completion, fd int, err error)
		onAccept = func(a *acceptor, c *ioloop.Completion, fd int, err error) {
			led.called++
			if err != nil {
				return
			}
			newPeer(a.l, fd).recv()
			led.submitted++
			ioloop.Accept(a.l, &a.op, a.lfd, a, onAccept)
		}
		for _, n := range nodes {
			lfd, _, err := n.Loop().ListenTCP(netip.AddrPortFrom(n.Addr(), 80), ioloop.ListenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			a := &acceptor{l: n.Loop(), lfd: lfd}
			acceptors = append(acceptors, a)
			led.submitted++
			ioloop.Accept(a.l, &a.op, lfd, a, onAccept)
		}
		rand := w.Rand()
		for i := 0; i < 30; i++ {
			from, to := nodes[rand.Intn(3)], nodes[rand.Intn(3)]
			l := from.Loop()
			fd, err := l.TCPSocket(netip.AddrPortFrom(to.Addr(), 80))
			if err != nil {
				t.Fatal(err)
			}
			p := newPeer(l, fd)
			p.msgSize = 1 + rand.Intn(len(p.buf))
			p.track(&p.op)
			ioloop.Connect(l, &p.op, fd, netip.AddrPortFrom(to.Addr(), 80), p, func(p *peer, c *ioloop.Completion, err error) {
				p.untrack(c)
				if err != nil {
					p.shut()
					return
				}
				p.track(&p.op)
				ioloop.Send(p.l, &p.op, p.fd, p.buf[:p.msgSize], p, (*peer).onSend)
			})
		}
		if err := w.RunFor(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		rounds := 0
		for _, p := range peers {
			rounds += p.rounds
		}
		for _, n := range nodes {
			if err := n.Loop().Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		if led.submitted != led.called {
			t.Fatalf("seed %d: %d operations submitted, %d callbacks", seed, led.submitted, led.called)
		}
		if rounds == 0 {
			t.Fatalf("seed %d: no traffic at all", seed)
		}
		t.Logf("seed %d: %d submissions, %d ping-pong rounds, %d events, trace %s", seed, led.submitted, rounds, w.Stats().Events, w.TraceHash())
	}
}
