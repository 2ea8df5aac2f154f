package ioloop

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// SendZC (ops_sendzc.go): Send's results on every backend; on io_uring
// with IORING_OP_SEND_ZC its callback waits for the kernel's notification.

// sendZCThroughReader sends data with SendZC on client while a
// hugeReader drains server through the loop, and checks that every byte
// arrived, in order, and that the SendZC completed once with the whole
// length.
func sendZCThroughReader(t *testing.T, l *Loop, client, server int, data []byte) {
	t.Helper()
	var send opResult
	var sc Completion
	SendZC(l, &sc, client, data, &send, (*opResult).onCount)
	reader := &hugeReader{loop: l, fd: server, buf: make([]byte, 256<<10), want: data, differ: -1}
	Recv(l, &reader.c, server, reader.buf, reader, (*hugeReader).onRecv)
	deadline := time.Now().Add(20 * time.Second)
	for !(send.done() && (reader.got >= len(data) || send.err != nil || reader.err != nil)) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: SendZC done=%v n=%d err=%v; reader got %d of %d bytes, err=%v",
				send.done(), send.n, send.err, reader.got, len(data), reader.err)
		}
		if err := l.RunFor(10 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if reader.err != nil {
		t.Fatalf("reader: %v after %d bytes", reader.err, reader.got)
	}
	wantN(t, "SendZC", &send, len(data))
	if reader.differ >= 0 || reader.got != len(data) {
		t.Fatalf("the peer received %d bytes, differing from those sent at offset %d", reader.got, reader.differ)
	}
	// The pending Recv of the reader is canceled by the loop's Close.
}

func TestSendZCLarge(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for _, size := range []int{1, 64 << 10, 1 << 20, 8<<20 + 123} {
			client, server := tcpPair(t, l, loopback4)
			sendZCThroughReader(t, l, client, server, pattern(size, uint32(size)))
		}
	})
}

// TestSendZCSmallSocketBuffer makes the kernel take the buffer in many
// pieces (the loop continues a short send as Send does).
func TestSendZCSmallSocketBuffer(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		const small = 4 << 10
		fds := newTestFDs(t, l)
		lfd, bound := listenTCP(t, l, loopback4)
		receiver := tcpSocket(t, l, bound)
		fds.setRcvBuf(receiver, small)
		sender := acceptConnected(t, l, lfd, "Connect", func(c *Completion, r *opResult) { Connect(l, c, receiver, bound, r, (*opResult).onErr) })
		fds.setSndBuf(sender, small)
		sendZCThroughReader(t, l, sender, receiver, pattern(2<<20, 41))
	})
}

func TestSendZCPeerReset(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		payload := pattern(1<<20, 42)
		client, server := tcpPairTracked(t, l, loopback4)
		resetOnClose(t, l, server.fd)
		server.close(t)
		for i := 0; i < 2; i++ {
			var r opResult
			var c Completion
			SendZC(l, &c, client.fd, payload, &r, (*opResult).onCount)
			await(t, l, &r)
			wantPeerGone(t, "SendZC after the peer reset", &r, len(payload))
		}
		var r opResult
		var c Completion
		SendZC(l, &c, badFD, payload, &r, (*opResult).onCount)
		await(t, l, &r)
		wantErr(t, "SendZC on a bad descriptor", &r, syscall.EBADF)
	})
}

// blockedSendZC starts a SendZC far larger than the socket buffers to a
// peer that does not read, and waits until it is stuck.
func blockedSendZC(t *testing.T, l *Loop, client int, c *Completion, r *opResult) []byte {
	t.Helper()
	data := pattern(32<<20, 43)
	SendZC(l, c, client, data, r, (*opResult).onCount)
	stillPending(t, l, 20*time.Millisecond, "SendZC to a peer that does not read", r)
	return data
}

func TestSendZCCancel(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		var tr, cr opResult
		var tc, cc Completion
		data := blockedSendZC(t, l, client, &tc, &tr)
		Cancel(l, &cc, &tc, &cr, (*opResult).onErr)
		// The bytes queued before the Cancel hold the buffer until the
		// peer takes them (io_uring's notification): the peer reads.
		reader := &hugeReader{loop: l, fd: server, buf: make([]byte, 256<<10), want: data, differ: -1}
		Recv(l, &reader.c, server, reader.buf, reader, (*hugeReader).onRecv)
		runUntil(t, l, 20*time.Second, func() bool { return tr.done() && cr.done() && reader.got >= tr.n })
		if tr.calls != 1 || cr.calls != 1 {
			t.Fatalf("callbacks: SendZC %d, Cancel %d, want one each", tr.calls, cr.calls)
		}
		wantOK(t, "Cancel", &cr)
		if tr.err != ErrCanceled || tr.n < 0 || tr.n >= len(data) {
			t.Fatalf("canceled SendZC: n=%d err=%v, want ErrCanceled and 0 <= n < %d", tr.n, tr.err, len(data))
		}
		stillPending(t, l, 20*time.Millisecond, "nothing more", &opResult{})
		if reader.got != tr.n || reader.differ >= 0 {
			t.Fatalf("the peer received %d bytes (first difference at %d), the canceled SendZC reported %d", reader.got, reader.differ, tr.n)
		}
	})
}

func TestSendZCLoopClose(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		var tr opResult
		var tc Completion
		data := blockedSendZC(t, l, client, &tc, &tr)
		// As with Cancel, the bytes already queued must reach the peer
		// before io_uring lets go of the buffer: the peer reads from
		// another goroutine while Close waits (the simulator cancels at
		// once).
		var stop atomic.Bool
		var wg sync.WaitGroup
		if simOf(l) == nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 256<<10)
				for !stop.Load() {
					if _, err := rawReadNonblocking(server, buf); err == syscall.EAGAIN {
						runtime.Gosched()
					}
				}
			}()
		}
		err := l.Close()
		stop.Store(true)
		wg.Wait()
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
		if tr.calls != 1 || tr.err != ErrCanceled || tr.n < 0 || tr.n >= len(data) {
			t.Fatalf("SendZC at Close: calls=%d n=%d err=%v, want one ErrCanceled with 0 <= n < %d", tr.calls, tr.n, tr.err, len(data))
		}
	})
}

// The buffer is the caller's when the callback runs: a callback that
// overwrites it and sends it again never corrupts what the peer gets.
func TestSendZCReuseInCallback(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		const rounds, size = 16, 256 << 10
		s := &zcResender{loop: l, fd: client, buf: make([]byte, size), rounds: rounds}
		want := make([]byte, 0, rounds*size)
		for i := 0; i < rounds; i++ {
			want = append(want, pattern(size, uint32(100+i))...)
		}
		s.send()
		reader := &hugeReader{loop: l, fd: server, buf: make([]byte, 256<<10), want: want, differ: -1}
		Recv(l, &reader.c, server, reader.buf, reader, (*hugeReader).onRecv)
		runUntil(t, l, 20*time.Second, func() bool { return s.err != nil || reader.err != nil || reader.got >= len(want) })
		if s.err != nil || reader.err != nil {
			t.Fatalf("sender: %v; reader: %v", s.err, reader.err)
		}
		if reader.differ >= 0 {
			t.Fatalf("the peer received other bytes than sent, from offset %d", reader.differ)
		}
	})
}

type zcResender struct {
	loop   *Loop
	fd     int
	buf    []byte
	c      Completion
	sent   int
	rounds int
	err    error
}

func (s *zcResender) send() {
	copy(s.buf, pattern(len(s.buf), uint32(100+s.sent)))
	SendZC(s.loop, &s.c, s.fd, s.buf, s, (*zcResender).onSent)
}

func (s *zcResender) onSent(_ *Completion, n int, err error) {
	if err != nil || n != len(s.buf) {
		s.err = err
		if err == nil {
			s.err = syscall.EIO
		}
		return
	}
	// Scribble first: if the kernel still read the buffer, the peer would see it.
	for i := range s.buf {
		s.buf[i] = 0xEE
	}
	if s.sent++; s.sent < s.rounds {
		s.send()
	}
}

var _ = bytes.Equal
