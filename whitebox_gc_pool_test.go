package ioloop

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// gcPoolConn is one connection of TestGCSafetyPools: the client end, the
// bytes expected next, and the shots' callback, which checks every byte.
type gcPoolConn struct {
	pool      *BufferPool // set by the first shot: the test keeps no reference
	client    int
	seed      uint32
	received  int
	want      int
	ended     int
	failure   string
	recv      Completion
	sendC     Completion
	sendState opResult
}

func (g *gcPoolConn) onRecv(c *Completion, buf []byte, err error) {
	if err != nil || buf == nil {
		g.ended++
		return
	}
	g.pool = c.pool()
	want := pattern(g.received+len(buf), g.seed)[g.received:]
	if string(buf) != string(want) && g.failure == "" {
		g.failure = "bytes differ from what was sent"
	}
	g.received += len(buf)
	g.pool.Release(buf)
}

// TestGCSafetyPools: the loop is the only owner of a BufferPool (the test
// keeps a weak flag of its collection, not a pointer), while 16
// connections receive into it through armed multishot receives and the
// collector runs again and again between rounds, with poisoned memory
// allocated to reuse anything freed by mistake; every byte must arrive
// intact, and the pool must survive until Close.
func TestGCSafetyPools(t *testing.T) {
	withLowGCPercent(t)
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		const conns, rounds, messageBytes = 16, 8, 1500
		var poolCollected atomic.Bool
		lfd, bound := listenTCP(t, l, loopback4)
		gconns := make([]*gcPoolConn, conns)
		func() {
			pool := newTestPool(t, l, conns, 512)
			runtime.AddCleanup(pool, func(flag *atomic.Bool) { flag.Store(true) }, &poolCollected)
			for i := range conns {
				client, server := connectTo(t, l, lfd, bound)
				g := &gcPoolConn{client: client.fd, seed: uint32(i + 1)}
				gconns[i] = g
				RecvMultishot(l, &g.recv, server.fd, pool, g, (*gcPoolConn).onRecv)
			}
		}()
		for round := 1; round <= rounds; round++ {
			for _, g := range gconns {
				data := pattern(g.want+messageBytes, g.seed)[g.want:]
				g.want += messageBytes
				g.sendState = opResult{}
				Send(l, &g.sendC, g.client, data, &g.sendState, (*opResult).onCount)
			}
			collectAndPoison()
			runUntil(t, l, waitLimit, func() bool {
				for _, g := range gconns {
					if g.received < g.want || !g.sendState.done() {
						return false
					}
				}
				return true
			})
			collectAndPoison()
			if poolCollected.Load() {
				t.Fatal("the pool was collected while its receives were armed")
			}
		}
		for i, g := range gconns {
			if g.failure != "" || g.received != g.want || g.ended != 0 {
				t.Fatalf("connection %d: %s; %d of %d bytes, %d finals", i, g.failure, g.received, g.want, g.ended)
			}
		}
	})
}
