package ioloop

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// The herd of receives on one UDP socket (retriedOnEAGAIN). The clients
// (herdClient) are blocking sockets on other goroutines, outside the loop.

// herdReceiver is one of many RecvFroms in flight on one socket.
type herdReceiver struct {
	c, send  Completion
	buf      [64]byte
	reply    [64]byte
	received *atomic.Int64
	failures *[]error
}

// onRecv echoes the datagram (unless its previous echo is still being
// sent: the echo only adds the sends a real server makes on the socket)
// and receives again.
func (r *herdReceiver) onRecv(c *Completion, n int, from netip.AddrPort, err error) {
	if err != nil {
		*r.failures = append(*r.failures, err)
		return
	}
	r.received.Add(1)
	if !r.send.Pending() {
		copy(r.reply[:], r.buf[:n])
		SendTo(c.loop, &r.send, int(c.fd), r.reply[:n], from, r, func(*herdReceiver, *Completion, int, error) {})
	}
	RecvFrom(c.loop, c, int(c.fd), r.buf[:], r, (*herdReceiver).onRecv)
}

// TestManyReceivesOnOneSocketNeverSeeEAGAIN: with 64 RecvFroms in flight on
// one non-blocking UDP socket, every datagram wakes every waiting receive;
// on io_uring one that finds nothing on its retry ends up on an io-wq
// worker, which honours O_NONBLOCK and returns EAGAIN. No receive may
// report it: the loop waits instead (retriedOnEAGAIN). Sixteen client
// goroutines ping-pong 4 datagrams each with the echoing server for a second,
// as the UDP echo benchmark does (docs/bench/udp.md), where unretried
// receives saw EAGAIN about once per thousand datagrams.
func TestManyReceivesOnOneSocketNeverSeeEAGAIN(t *testing.T) {
	for _, backend := range testBackends(t) {
		if backend == BackendSimulator {
			continue // its sockets are the loop's own: no other thread can send
		}
		t.Run(backend.String(), func(t *testing.T) {
			l := newTestLoop(t, Options{Backend: backend})
			serverFD, serverAddr := listenUDP(t, l, loopback4)
			const receivers, clients, window = 64, 16, 4
			var received atomic.Int64
			var failures []error
			rs := make([]herdReceiver, receivers)
			for i := range rs {
				rs[i].received, rs[i].failures = &received, &failures
				RecvFrom(l, &rs[i].c, serverFD, rs[i].buf[:], &rs[i], (*herdReceiver).onRecv)
			}
			var stop atomic.Bool
			clientErr := make(chan error, clients)
			for range clients {
				go func() { clientErr <- herdClient(serverAddr, window, &stop) }()
			}
			deadline := time.Now().Add(time.Second)
			for time.Now().Before(deadline) && len(failures) == 0 {
				if err := l.RunFor(10 * time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
			stop.Store(true)
			for range clients {
				if err := <-clientErr; err != nil {
					t.Fatalf("client: %v", err)
				}
			}
			if len(failures) > 0 {
				t.Fatalf("a receive failed after %d datagrams: %v (%d failures)", received.Load(), failures[0], len(failures))
			}
			if received.Load() == 0 {
				t.Fatal("no datagram arrived")
			}
		})
	}
}
