//go:build linux || windows

package ioloop

import (
	"errors"
	"net/netip"
	"testing"
)

// Zero allocations per pooled receive and per multishot shot (see
// conformance_allocs_test.go for the shape of these tests).

// pooledAllocState is allocState with a pooled receive's callback, which
// releases each buffer at once.
type pooledAllocState struct {
	allocState
	pool *BufferPool
}

func (s *pooledAllocState) onPooled(_ *Completion, buf []byte, err error) {
	if buf != nil {
		s.pool.Release(buf)
	}
	s.note(len(buf), err)
}

func TestAllocsPooled(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		pool := newTestPool(t, l, 8, 64)
		client, server := tcpPair(t, l, loopback4)
		out := []byte("m")
		t.Run("RecvMultishot", func(t *testing.T) {
			s := &pooledAllocState{allocState: allocState{loop: l}, pool: pool}
			RecvMultishot(l, &s.c, server, pool, s, (*pooledAllocState).onPooled)
			wantNoAllocs(t, &s.allocState, 500, func() {
				// One message and its shot, the Send through the loop
				// (the simulated peer's only way in).
				Send(l, &s.c2, client, out, s, (*pooledAllocState).onCountSend)
				s.wait(2)
			})
			cancelUntil(t, l, &s.c, func() bool { return !s.c.Pending() })
		})
		t.Run("RecvPooled", func(t *testing.T) {
			s := &pooledAllocState{allocState: allocState{loop: l}, pool: pool}
			wantNoAllocs(t, &s.allocState, 500, func() {
				Send(l, &s.c2, client, out, s, (*pooledAllocState).onCountSend)
				RecvPooled(l, &s.c, server, pool, s, (*pooledAllocState).onPooled)
				s.wait(2)
			})
		})
	})
}

func TestAllocsRecvFromMultishot(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		pool := newTestPool(t, l, 8, 128)
		server, serverAddr := listenUDP(t, l, loopback4)
		client, _ := listenUDP(t, l, loopback4)
		s := &pooledAllocState{allocState: allocState{loop: l}, pool: pool}
		RecvFromMultishot(l, &s.c, server, pool, s, (*pooledAllocState).onDatagram)
		out := []byte("datagram")
		wantNoAllocs(t, &s.allocState, 500, func() {
			SendTo(l, &s.c2, client, out, serverAddr, s, (*pooledAllocState).onCountSend)
			s.wait(2)
		})
		cancelUntil(t, l, &s.c, func() bool { return !s.c.Pending() })
	})
}

func (s *pooledAllocState) onDatagram(_ *Completion, buf []byte, from netip.AddrPort, err error) {
	if err == nil && (len(buf) != 8 || !from.IsValid()) && s.err == nil {
		s.err = errors.New("wrong datagram or sender")
	}
	if buf != nil {
		s.pool.Release(buf)
	}
	s.note(len(buf), err)
}

func (s *pooledAllocState) onCountSend(_ *Completion, n int, err error) { s.note(n, err) }
