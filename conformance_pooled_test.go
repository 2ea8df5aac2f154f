package ioloop

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"
)

// Conformance of buffer pools and multishot operations (pool.go,
// ops_pooled.go).

// forPoolBackends runs body on a loop of each test backend, and also, where
// io_uring is tested, on io_uring as it runs on a kernel without
// provided-buffer rings (newPoolFallbackLoop), whose fallback the loop
// implements itself.
func forPoolBackends(t *testing.T, body func(t *testing.T, l *Loop)) {
	for _, backend := range testBackends(t) {
		t.Run(backend.String(), func(t *testing.T) { body(t, newTestLoop(t, Options{Backend: backend})) })
		if backend == BackendIOUring && newPoolFallbackLoop != nil {
			t.Run("io_uring-nobufring", func(t *testing.T) { body(t, newPoolFallbackLoop(t)) })
		}
	}
}

// newPoolFallbackLoop creates an io_uring loop that behaves as on a kernel
// without provided-buffer rings (whitebox_pool_linux_test.go); nil where
// there is no io_uring.
var newPoolFallbackLoop func(t *testing.T) *Loop

// sendAll sends all of data on fd through l (the simulator's sockets are
// its own) and waits for the Send.
func sendAll(t testing.TB, l *Loop, fd int, data []byte) {
	t.Helper()
	var send opResult
	var c Completion
	Send(l, &c, fd, data, &send, (*opResult).onCount)
	runUntil(t, l, waitLimit, send.done)
	if send.err != nil {
		t.Fatalf("Send: %v", send.err)
	}
}

// shotLog records a pooled receive's callbacks.
type shotLog struct {
	pool   *BufferPool
	data   []byte
	shots  int
	final  error
	ended  int
	keep   bool     // hold the buffers instead of releasing them
	held   [][]byte // buffers kept
	moreOK bool
}

func (s *shotLog) onRecv(c *Completion, buf []byte, err error) {
	if err != nil || buf == nil {
		if c.More() || buf != nil {
			s.moreOK = false
		}
		s.final, s.ended = err, s.ended+1
		return
	}
	if !c.More() && c.op == opRecvMultishot {
		s.moreOK = false
	}
	s.shots++
	s.data = append(s.data, buf...)
	if s.keep {
		s.held = append(s.held, buf)
		return
	}
	s.pool.Release(buf)
}

func TestRecvMultishotShotsThenEOF(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		pool := newTestPool(t, l, 4, 64)
		client, server := tcpPairTracked(t, l, loopback4)
		log := &shotLog{pool: pool, moreOK: true}
		var c Completion
		RecvMultishot(l, &c, server.fd, pool, log, (*shotLog).onRecv)
		want := ""
		for _, msg := range []string{"one", "two", "three"} {
			want += msg
			sendAll(t, l, client.fd, []byte(msg))
			runUntil(t, l, waitLimit, func() bool { return len(log.data) == len(want) })
		}
		client.close(t)
		runUntil(t, l, waitLimit, func() bool { return log.ended > 0 })
		if string(log.data) != want || !errors.Is(log.final, io.EOF) || log.ended != 1 || !log.moreOK {
			t.Fatalf("got %q, final %v (%d finals), More right: %v; want %q, io.EOF once", log.data, log.final, log.ended, log.moreOK, want)
		}
		if pool.Free() != pool.Count() {
			t.Fatalf("Free = %d after every buffer was released, want %d", pool.Free(), pool.Count())
		}
	})
}

// TestRecvMultishotWaitsForRelease: with every buffer held, the receive
// waits (no error, nothing lost), and a Release lets it go on.
func TestRecvMultishotWaitsForRelease(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		pool := newTestPool(t, l, 1, 8)
		client, server := tcpPairTracked(t, l, loopback4)
		log := &shotLog{pool: pool, keep: true, moreOK: true}
		var c Completion
		RecvMultishot(l, &c, server.fd, pool, log, (*shotLog).onRecv)
		sendAll(t, l, client.fd, []byte("12345678"))
		runUntil(t, l, waitLimit, func() bool { return log.shots == 1 })
		sendAll(t, l, client.fd, []byte("abc"))
		for range 10 {
			if err := l.RunFor(1e6); err != nil {
				t.Fatal(err)
			}
		}
		if log.shots != 1 || log.ended != 0 || pool.Free() != 0 {
			t.Fatalf("with the only buffer held: %d shots, %d finals, Free %d; want 1, 0, 0", log.shots, log.ended, pool.Free())
		}
		pool.Release(log.held[0])
		log.held = log.held[:0]
		runUntil(t, l, waitLimit, func() bool { return len(log.data) == 11 })
		if string(log.data) != "12345678abc" {
			t.Fatalf("got %q", log.data)
		}
		cancelUntil(t, l, &c, func() bool { return log.ended > 0 })
		if !errors.Is(log.final, ErrCanceled) || log.ended != 1 {
			t.Fatalf("after Cancel: final %v, %d finals; want ErrCanceled once", log.final, log.ended)
		}
	})
}

func TestBufferPoolMisuse(t *testing.T) {
	l := newTestLoop(t, Options{Backend: readinessBackendKind})
	if _, err := NewBufferPool(l, 0, 64); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("NewBufferPool(0 buffers) = %v, want EINVAL", err)
	}
	if _, err := NewBufferPool(l, 4, 0); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("NewBufferPool(0 bytes) = %v, want EINVAL", err)
	}
	pool := newTestPool(t, l, 2, 16)
	mustPanicWith(t, func() { pool.Release(make([]byte, 16)) }, "not one this pool handed out")
	pool.fill(1)
	buf := pool.deliver(1, 5)
	pool.Release(buf)
	mustPanicWith(t, func() { pool.Release(buf) }, "released twice")
}

// acceptLog records an AcceptMultishot's callbacks.
type acceptLog struct {
	t      testing.TB
	l      *Loop
	fds    []int
	final  error
	finalN int
	ended  int
	moreOK bool
}

func (a *acceptLog) onAccept(c *Completion, fd int, err error) {
	if err != nil {
		if c.More() {
			a.moreOK = false
		}
		a.final, a.finalN, a.ended = err, fd, a.ended+1
		return
	}
	if !c.More() {
		a.moreOK = false
	}
	ownFD(a.t, a.l, fd)
	a.fds = append(a.fds, fd)
}

// TestAcceptMultishot: one AcceptMultishot accepts every connection, each
// a shot with More true, until Cancel ends it once with ErrCanceled, fd -1.
func TestAcceptMultishot(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		lfd, bound := listenTCP(t, l, loopback4)
		log := &acceptLog{t: t, l: l, moreOK: true}
		var c Completion
		AcceptMultishot(l, &c, lfd, log, (*acceptLog).onAccept)
		const conns = 5
		for i := range conns {
			cfd, err := l.TCPSocket(bound)
			if err != nil {
				t.Fatal(err)
			}
			ownFD(t, l, cfd)
			var connect opResult
			var cc Completion
			Connect(l, &cc, cfd, bound, &connect, (*opResult).onErr)
			runUntil(t, l, waitLimit, func() bool { return connect.done() && len(log.fds) == i+1 })
			wantOK(t, "Connect", &connect)
		}
		cancelUntil(t, l, &c, func() bool { return log.ended > 0 })
		if err := l.RunFor(1e6); err != nil {
			t.Fatal(err)
		}
		if len(log.fds) != conns || log.ended != 1 || !errors.Is(log.final, ErrCanceled) || log.finalN != -1 || !log.moreOK {
			t.Fatalf("%d connections, %d finals (%v, fd %d), More right %v; want %d, one ErrCanceled with fd -1",
				len(log.fds), log.ended, log.final, log.finalN, log.moreOK, conns)
		}
	})
}

// TestRecvPooledOnce: RecvPooled receives once, into a pool buffer, and
// ends with More false; a second after the peer closes gets io.EOF, nil.
func TestRecvPooledOnce(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		pool := newTestPool(t, l, 2, 32)
		client, server := tcpPairTracked(t, l, loopback4)
		log := &shotLog{pool: pool, moreOK: true}
		var c Completion
		RecvPooled(l, &c, server.fd, pool, log, (*shotLog).onRecv)
		sendAll(t, l, client.fd, []byte("pooled"))
		runUntil(t, l, waitLimit, func() bool { return log.shots == 1 })
		if string(log.data) != "pooled" || log.ended != 0 {
			t.Fatalf("got %q, %d finals", log.data, log.ended)
		}
		client.close(t)
		RecvPooled(l, &c, server.fd, pool, log, (*shotLog).onRecv)
		runUntil(t, l, waitLimit, func() bool { return log.ended == 1 })
		if !errors.Is(log.final, io.EOF) || !log.moreOK || pool.Free() != 2 {
			t.Fatalf("after the peer closed: %v, More right %v, Free %d; want io.EOF, true, 2", log.final, log.moreOK, pool.Free())
		}
	})
}

// TestPoolServesMoreIdleConnectionsThanBuffers: where buffers are taken
// when data arrives, 16 connections waiting in RecvMultishot share a pool
// of 2 buffers, and every message on every connection arrives.
func TestPoolServesMoreIdleConnectionsThanBuffers(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		pool := newTestPool(t, l, 2, 16)
		if pool.takesAtSubmission() {
			t.Skip("this backend takes a pooled receive's buffer at submission (documented): a pool serves at most as many idle connections as it has buffers")
		}
		const conns = 16
		lfd, bound := listenTCP(t, l, loopback4)
		logs := make([]*shotLog, conns)
		receives := make([]Completion, conns)
		clients := make([]*trackedFD, conns)
		for i := range conns {
			client, server := connectTo(t, l, lfd, bound)
			clients[i] = client
			logs[i] = &shotLog{pool: pool, moreOK: true}
			RecvMultishot(l, &receives[i], server.fd, pool, logs[i], (*shotLog).onRecv)
		}
		for round := range 3 {
			for i := range conns {
				sendAll(t, l, clients[i].fd, []byte{byte('a' + round), byte('A' + i)})
			}
			runUntil(t, l, waitLimit, func() bool {
				for _, log := range logs {
					if len(log.data) < 2*(round+1) {
						return false
					}
				}
				return true
			})
		}
		for i, log := range logs {
			want := string([]byte{'a', byte('A' + i), 'b', byte('A' + i), 'c', byte('A' + i)})
			if string(log.data) != want || log.ended != 0 || !log.moreOK {
				t.Fatalf("connection %d: got %q, %d finals, More right %v; want %q, still armed", i, log.data, log.ended, log.moreOK, want)
			}
		}
		if pool.Free() != pool.Count() {
			t.Fatalf("Free = %d, want %d", pool.Free(), pool.Count())
		}
	})
}

// TestLoopCloseEndsPooledOperations: Close ends an armed RecvMultishot, one
// waiting for a buffer, an idle RecvPooled and an AcceptMultishot, each
// with exactly one ErrCanceled; buffers the caller holds are still
// released after Close, and the pool is closed with the loop.
func TestLoopCloseEndsPooledOperations(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		pool := newTestPool(t, l, 1, 16)
		lfd, bound := listenTCP(t, l, loopback4)
		holderClient, holder := connectTo(t, l, lfd, bound)
		waiterClient, waiter := connectTo(t, l, lfd, bound)
		_, idle := connectTo(t, l, lfd, bound)

		holding := &shotLog{pool: pool, keep: true, moreOK: true}
		var holdC Completion
		RecvMultishot(l, &holdC, holder.fd, pool, holding, (*shotLog).onRecv)
		sendAll(t, l, holderClient.fd, []byte("held"))
		runUntil(t, l, waitLimit, func() bool { return holding.shots == 1 })

		waiting := &shotLog{pool: pool, moreOK: true}
		var waitC Completion
		RecvMultishot(l, &waitC, waiter.fd, pool, waiting, (*shotLog).onRecv)
		sendAll(t, l, waiterClient.fd, []byte("waits"))
		idleLog := &shotLog{pool: pool, moreOK: true}
		var idleC Completion
		RecvPooled(l, &idleC, idle.fd, pool, idleLog, (*shotLog).onRecv)
		accepts := &acceptLog{t: t, l: l, moreOK: true}
		var acceptC Completion
		AcceptMultishot(l, &acceptC, lfd, accepts, (*acceptLog).onAccept)
		for range 5 {
			if err := l.RunFor(time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		if waiting.shots != 0 || pool.Free() != 0 {
			t.Fatalf("with the only buffer held: %d shots, Free %d; want 0, 0", waiting.shots, pool.Free())
		}

		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for name, log := range map[string]*shotLog{"armed RecvMultishot": holding, "waiting RecvMultishot": waiting, "idle RecvPooled": idleLog} {
			if log.ended != 1 || !errors.Is(log.final, ErrCanceled) || !log.moreOK {
				t.Errorf("%s: %d finals (%v), More right %v; want one ErrCanceled", name, log.ended, log.final, log.moreOK)
			}
		}
		if accepts.ended != 1 || !errors.Is(accepts.final, ErrCanceled) || accepts.finalN != -1 {
			t.Errorf("AcceptMultishot: %d finals (%v, fd %d); want one ErrCanceled, fd -1", accepts.ended, accepts.final, accepts.finalN)
		}
		if string(holding.data) != "held" || len(holding.held) != 1 {
			t.Fatalf("holder got %q (%d held)", holding.data, len(holding.held))
		}
		pool.Release(holding.held[0])
		if err := pool.Close(); !errors.Is(err, ErrClosed) {
			t.Fatalf("pool.Close after Loop.Close = %v, want ErrClosed", err)
		}
	})
}

// TestBufferPoolCloseRules: a pool cannot be closed under a receive in
// flight (a panic naming the mistake), can be once it ended, and a closed
// pool is refused by the operations; Release still takes its buffers.
func TestBufferPoolCloseRules(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		pool := newTestPool(t, l, 2, 16)
		client, server := tcpPairTracked(t, l, loopback4)
		log := &shotLog{pool: pool, keep: true, moreOK: true}
		var c Completion
		RecvMultishot(l, &c, server.fd, pool, log, (*shotLog).onRecv)
		sendAll(t, l, client.fd, []byte("x"))
		runUntil(t, l, waitLimit, func() bool { return log.shots == 1 })
		mustPanicWith(t, func() { _ = pool.Close() }, "pooled receives in flight")
		cancelUntil(t, l, &c, func() bool { return log.ended == 1 })
		if err := pool.Close(); err != nil {
			t.Fatalf("Close with nothing in flight: %v", err)
		}
		mustPanicWith(t, func() { RecvPooled(l, &c, server.fd, pool, log, (*shotLog).onRecv) }, "closed BufferPool")
		pool.Release(log.held[0])
		if err := pool.Close(); !errors.Is(err, ErrClosed) {
			t.Fatalf("second Close = %v, want ErrClosed", err)
		}
		// The pool's group (io_uring) is free again for a new pool.
		again, err := NewBufferPool(l, 2, 16)
		if err != nil {
			t.Fatalf("NewBufferPool after Close: %v", err)
		}
		if again.Free() != 2 {
			t.Fatalf("new pool: Free = %d, want 2", again.Free())
		}
	})
}

// newTestPool creates a pool of count buffers of size bytes on l.
func newTestPool(t testing.TB, l *Loop, count, size int) *BufferPool {
	t.Helper()
	pool, err := NewBufferPool(l, count, size)
	if err != nil {
		t.Fatalf("NewBufferPool(%d, %d): %v", count, size, err)
	}
	return pool
}

// cancelUntil cancels c and drives l until the Cancel's callback has
// run and ended reports that c's final callback has.
func cancelUntil(t testing.TB, l *Loop, c *Completion, ended func() bool) {
	t.Helper()
	var cancelC Completion
	var cancel opResult
	Cancel(l, &cancelC, c, &cancel, (*opResult).onErr)
	runUntil(t, l, waitLimit, func() bool { return ended() && cancel.done() })
	if cancel.err != nil && !errors.Is(cancel.err, ErrNotFound) {
		t.Fatalf("Cancel: %v", cancel.err)
	}
}
