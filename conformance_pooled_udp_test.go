package ioloop

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// Conformance of RecvFromMultishot (ops_pooled_udp.go).

// dgramShots records a RecvFromMultishot's callbacks.
type dgramShots struct {
	pool     *BufferPool
	payloads [][]byte // copies
	senders  []netip.AddrPort
	final    error
	ended    int
	moreOK   bool
}

func (d *dgramShots) onRecv(c *Completion, buf []byte, from netip.AddrPort, err error) {
	if err != nil {
		if c.More() || buf != nil {
			d.moreOK = false
		}
		d.final, d.ended = err, d.ended+1
		return
	}
	if !c.More() || buf == nil {
		d.moreOK = false
	}
	d.payloads = append(d.payloads, bytes.Clone(buf))
	d.senders = append(d.senders, from)
	d.pool.Release(buf)
}

// TestRecvFromMultishot: one RecvFromMultishot receives every datagram
// from two senders, whole and in order per sender, a zero-length one as an
// empty shot, a longer one truncated to the pool's buffer less its 44
// bytes; Cancel ends it once with ErrCanceled; every buffer comes back.
func TestRecvFromMultishot(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		for _, addr := range udpLoopbacks(t, l) {
			t.Run(addr.Addr().String(), func(t *testing.T) {
				const bufBytes = 44 + 100
				pool := newTestPool(t, l, 4, bufBytes)
				server, serverAddr := listenUDP(t, l, addr)
				shots := &dgramShots{pool: pool, moreOK: true}
				var rc Completion
				RecvFromMultishot(l, &rc, server, pool, shots, (*dgramShots).onRecv)

				senders := make([]int, 2)
				senderAddrs := make([]netip.AddrPort, 2)
				for i := range senders {
					senders[i], senderAddrs[i] = listenUDP(t, l, addr)
				}
				long := pattern(300, 7)
				datagrams := [][]byte{[]byte("one"), {}, []byte("three"), long, []byte("five")}
				for i, d := range datagrams {
					var sc Completion
					var sent opResult
					SendTo(l, &sc, senders[i%2], d, serverAddr, &sent, (*opResult).onCount)
					await(t, l, &sent)
					wantN(t, "SendTo", &sent, len(d))
					runUntil(t, l, waitLimit, func() bool { return len(shots.payloads) == i+1 })
				}
				for i, d := range datagrams {
					want := d[:min(len(d), bufBytes-44)]
					if !bytes.Equal(shots.payloads[i], want) || shots.senders[i] != senderAddrs[i%2] {
						t.Fatalf("datagram %d: got %d bytes from %v, want %d bytes from %v", i, len(shots.payloads[i]), shots.senders[i], len(want), senderAddrs[i%2])
					}
				}
				if shots.ended != 0 || !shots.moreOK {
					t.Fatalf("%d finals (%v), More right %v, before Cancel", shots.ended, shots.final, shots.moreOK)
				}
				cancelUntil(t, l, &rc, func() bool { return shots.ended > 0 })
				if shots.ended != 1 || !errors.Is(shots.final, ErrCanceled) || !shots.moreOK {
					t.Fatalf("after Cancel: %d finals (%v), More right %v; want one ErrCanceled", shots.ended, shots.final, shots.moreOK)
				}
				if pool.Free() != pool.Count() {
					t.Fatalf("Free = %d, want %d", pool.Free(), pool.Count())
				}
			})
		}
	})
}

// TestRecvFromMultishotWaitsForRelease: with every buffer held, datagrams
// wait in the socket (none lost), and are received after Release.
func TestRecvFromMultishotWaitsForRelease(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		pool := newTestPool(t, l, 1, 64)
		server, serverAddr := listenUDP(t, l, loopback4)
		client, _ := listenUDP(t, l, loopback4)
		var held [][]byte
		got := 0
		keep := &heldDatagrams{held: &held, got: &got}
		var rc Completion
		RecvFromMultishot(l, &rc, server, pool, keep, (*heldDatagrams).onRecv)
		for i := range 3 {
			var sc Completion
			var sent opResult
			SendTo(l, &sc, client, []byte{byte('a' + i)}, serverAddr, &sent, (*opResult).onCount)
			await(t, l, &sent)
		}
		runUntil(t, l, waitLimit, func() bool { return got == 1 })
		for range 5 {
			if err := l.RunFor(1e6); err != nil {
				t.Fatal(err)
			}
		}
		if got != 1 || pool.Free() != 0 {
			t.Fatalf("with the only buffer held: %d datagrams, Free %d; want 1, 0", got, pool.Free())
		}
		for want := 2; want <= 3; want++ {
			pool.Release(held[0])
			held = held[1:]
			runUntil(t, l, waitLimit, func() bool { return got == want })
		}
		if string(held[0]) != "c" {
			t.Fatalf("last datagram %q, want \"c\"", held[0])
		}
		pool.Release(held[0])
		cancelUntil(t, l, &rc, func() bool { return !rc.Pending() })
	})
}

// heldDatagrams keeps each datagram's buffer.
type heldDatagrams struct {
	held *[][]byte
	got  *int
}

func (h *heldDatagrams) onRecv(_ *Completion, buf []byte, _ netip.AddrPort, err error) {
	if err == nil {
		*h.held = append(*h.held, buf)
		*h.got++
	}
}

// TestRecvFromMultishotMisuse: buffers too small for the sender's room.
func TestRecvFromMultishotMisuse(t *testing.T) {
	l := newTestLoop(t, Options{Backend: readinessBackendKind})
	pool := newTestPool(t, l, 2, 44)
	fd, _ := listenUDP(t, l, loopback4)
	var rc Completion
	mustPanicWith(t, func() {
		RecvFromMultishot(l, &rc, fd, pool, &dgramShots{}, (*dgramShots).onRecv)
	}, "44 bytes or fewer")
}
