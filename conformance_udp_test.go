package ioloop

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// Conformance tests of the datagram and message operations (SendTo,
// RecvFrom, SendMsg, RecvMsg) and ListenUDP/UDPSocket, on real loopback
// sockets (and the simulator's datagrams, faults off).

// dgramResult records a RecvFrom's or RecvMsg's callback.
type dgramResult struct {
	calls       int
	n, oobn     int
	flags       int
	from        netip.AddrPort
	err         error
	c           *Completion
	pendingSeen bool // c.Pending() inside the callback (must be false)
}

func (r *dgramResult) onRecvFrom(c *Completion, n int, from netip.AddrPort, err error) {
	r.calls++
	r.n, r.from, r.err, r.c = n, from, err, c
	r.pendingSeen = c.Pending()
}

func (r *dgramResult) onRecvMsg(c *Completion, n, oobn, flags int, from netip.AddrPort, err error) {
	r.calls++
	r.n, r.oobn, r.flags, r.from, r.err, r.c = n, oobn, flags, from, err, c
}

func (r *dgramResult) done() bool { return r.calls > 0 }

// awaitDgram drives l until every r has its callback, then one more pass,
// and checks that each ran exactly once.
func awaitDgram(t testing.TB, l *Loop, rs ...*dgramResult) {
	t.Helper()
	runUntil(t, l, waitLimit, func() bool {
		for _, r := range rs {
			if !r.done() {
				return false
			}
		}
		return true
	})
	if err := l.Tick(); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	for i, r := range rs {
		if r.calls != 1 {
			t.Fatalf("receive %d: callback ran %d times, want exactly once", i, r.calls)
		}
	}
}

// listenUDP opens a UDP socket of l bound to addr, closed at cleanup.
func listenUDP(t testing.TB, l *Loop, addr netip.AddrPort) (int, netip.AddrPort) {
	t.Helper()
	fd, bound, err := l.ListenUDP(addr, UDPOptions{})
	if err != nil {
		t.Fatalf("ListenUDP(%v): %v", addr, err)
	}
	ownFD(t, l, fd)
	return fd, bound
}

// udpLoopbacks is loopbacks for datagrams: IPv6 where ::1 can be bound.
func udpLoopbacks(t testing.TB, l *Loop) []netip.AddrPort {
	t.Helper()
	addrs := []netip.AddrPort{loopback4}
	if simOf(l) != nil {
		return append(addrs, loopback6)
	}
	if fd, _, err := ListenUDP(loopback6, UDPOptions{}); err == nil {
		sysCloseFD(fd)
		addrs = append(addrs, loopback6)
	} else {
		t.Logf("IPv6 loopback unavailable (%v); testing IPv4 only", err)
	}
	return addrs
}

func TestUDPRoundTrip(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for _, addr := range udpLoopbacks(t, l) {
			t.Run(addr.Addr().String(), func(t *testing.T) {
				server, serverAddr := listenUDP(t, l, addr)
				client, clientAddr := listenUDP(t, l, addr)
				wantNonblockCloexec(t, l, server)
				if serverAddr.Port() == 0 || serverAddr.Addr() != addr.Addr() {
					t.Fatalf("ListenUDP bound %v, want %v with a port", serverAddr, addr.Addr())
				}

				// The receive waits in the loop until a datagram arrives.
				var rc Completion
				var got dgramResult
				buf := make([]byte, 2048)
				RecvFrom(l, &rc, server, buf, &got, (*dgramResult).onRecvFrom)
				if err := l.RunFor(20 * time.Millisecond); err != nil {
					t.Fatal(err)
				}
				if got.calls != 0 || !rc.Pending() {
					t.Fatalf("RecvFrom completed with nothing sent: %+v", got)
				}

				var sc Completion
				var sent opResult
				SendTo(l, &sc, client, []byte("ping"), serverAddr, &sent, (*opResult).onCount)
				await(t, l, &sent)
				wantN(t, "SendTo", &sent, 4)
				awaitDgram(t, l, &got)
				if got.err != nil || got.n != 4 || string(buf[:4]) != "ping" {
					t.Fatalf("RecvFrom: n=%d err=%v data=%q, want 4 bytes \"ping\"", got.n, got.err, buf[:got.n])
				}
				if got.from != clientAddr {
					t.Fatalf("RecvFrom: from %v, want the client's %v", got.from, clientAddr)
				}
				if got.c != &rc || got.pendingSeen {
					t.Fatal("callback got the wrong Completion, or saw it pending")
				}
				if n, err := rc.Result(); n != 4 || err != nil {
					t.Fatalf("Result() = %d, %v", n, err)
				}

				// The server answers to where the datagram came from.
				var back dgramResult
				RecvFrom(l, &rc, client, buf, &back, (*dgramResult).onRecvFrom)
				sent = opResult{}
				SendTo(l, &sc, server, []byte("pong!"), got.from, &sent, (*opResult).onCount)
				await(t, l, &sent)
				awaitDgram(t, l, &back)
				if back.err != nil || back.n != 5 || string(buf[:5]) != "pong!" || back.from != serverAddr {
					t.Fatalf("reply: n=%d err=%v data=%q from %v", back.n, back.err, buf[:back.n], back.from)
				}
			})
		}
	})
}

// TestUDPDatagramBoundaries: datagrams are never merged or split, and a
// zero-length one is an ordinary result (n 0, nil error), not io.EOF.
func TestUDPDatagramBoundaries(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		server, serverAddr := listenUDP(t, l, loopback4)
		client, _ := listenUDP(t, l, loopback4)
		sizes := []int{3, 0, 1000, 0, 1}
		for i, size := range sizes {
			var sc Completion
			var sent opResult
			SendTo(l, &sc, client, pattern(size, uint32(i)), serverAddr, &sent, (*opResult).onCount)
			await(t, l, &sent)
			wantN(t, "SendTo", &sent, size)
		}
		simSettle(t, l)
		buf := make([]byte, 2048)
		for i, size := range sizes {
			var rc Completion
			var got dgramResult
			RecvFrom(l, &rc, server, buf, &got, (*dgramResult).onRecvFrom)
			awaitDgram(t, l, &got)
			if got.err != nil || got.n != size || !bytes.Equal(buf[:got.n], pattern(size, uint32(i))) {
				t.Fatalf("datagram %d: n=%d err=%v, want %d bytes and a nil error", i, got.n, got.err, size)
			}
			if errors.Is(got.err, io.EOF) {
				t.Fatal("a zero-length datagram reported io.EOF")
			}
			if !got.from.IsValid() {
				t.Fatalf("datagram %d: no sender", i)
			}
		}
	})
}

// TestUDPTruncation defines the result of a receive whose buffer is
// smaller than the datagram: n is the bytes copied, the rest is lost, and
// RecvMsg reports MSG_TRUNC (RecvFrom cannot tell).
func TestUDPTruncation(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		server, serverAddr := listenUDP(t, l, loopback4)
		client, clientAddr := listenUDP(t, l, loopback4)
		data := pattern(100, 7)
		for i := 0; i < 3; i++ {
			var sc Completion
			var sent opResult
			SendTo(l, &sc, client, data, serverAddr, &sent, (*opResult).onCount)
			await(t, l, &sent)
		}
		simSettle(t, l)
		var rc Completion
		var got dgramResult
		small := make([]byte, 10)
		RecvFrom(l, &rc, server, small, &got, (*dgramResult).onRecvFrom)
		awaitDgram(t, l, &got)
		if got.err != nil || got.n != 10 || !bytes.Equal(small, data[:10]) {
			t.Fatalf("RecvFrom into 10 bytes: n=%d err=%v", got.n, got.err)
		}

		// RecvMsg over two buffers reports the truncation.
		a, b := make([]byte, 4), make([]byte, 6)
		got = dgramResult{}
		RecvMsg(l, &rc, server, [][]byte{a, b}, nil, &got, (*dgramResult).onRecvMsg)
		awaitDgram(t, l, &got)
		if got.err != nil || got.n != 10 || got.flags&sysMSG_TRUNC == 0 || got.from != clientAddr {
			t.Fatalf("RecvMsg into 4+6 bytes: n=%d flags=%#x from=%v err=%v, want 10 with MSG_TRUNC from %v",
				got.n, got.flags, got.from, got.err, clientAddr)
		}
		if !bytes.Equal(append(a, b...), data[:10]) {
			t.Fatal("RecvMsg scattered the wrong bytes")
		}

		// Big enough: no flag. The earlier datagrams' rest is gone.
		big := make([]byte, 200)
		got = dgramResult{}
		RecvMsg(l, &rc, server, [][]byte{big}, nil, &got, (*dgramResult).onRecvMsg)
		awaitDgram(t, l, &got)
		if got.err != nil || got.n != 100 || got.flags&sysMSG_TRUNC != 0 || !bytes.Equal(big[:100], data) {
			t.Fatalf("RecvMsg into 200 bytes: n=%d flags=%#x err=%v", got.n, got.flags, got.err)
		}
	})
}

// TestUDPSendMsgGather: SendMsg sends its buffers as one datagram, to an
// address or (zero AddrPort) to the connected peer.
func TestUDPSendMsgGather(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		server, serverAddr := listenUDP(t, l, loopback4)
		client, clientAddr := listenUDP(t, l, loopback4)
		var sc Completion
		var sent opResult
		SendMsg(l, &sc, client, [][]byte{[]byte("ab"), nil, []byte("cde")}, nil, serverAddr, &sent, (*opResult).onCount)
		await(t, l, &sent)
		wantN(t, "SendMsg", &sent, 5)

		// Not connected: no destination.
		sent = opResult{}
		SendMsg(l, &sc, client, [][]byte{[]byte("x")}, nil, netip.AddrPort{}, &sent, (*opResult).onCount)
		await(t, l, &sent)
		wantErr(t, "SendMsg without a destination", &sent, syscall.EDESTADDRREQ)

		var cc Completion
		var connected opResult
		Connect(l, &cc, client, serverAddr, &connected, (*opResult).onErr)
		await(t, l, &connected)
		wantOK(t, "Connect of a UDP socket", &connected)
		sent = opResult{}
		SendMsg(l, &sc, client, [][]byte{[]byte("fg")}, nil, netip.AddrPort{}, &sent, (*opResult).onCount)
		await(t, l, &sent)
		wantN(t, "SendMsg to the connected peer", &sent, 2)

		buf := make([]byte, 64)
		for _, want := range []string{"abcde", "fg"} {
			var rc Completion
			var got dgramResult
			RecvFrom(l, &rc, server, buf, &got, (*dgramResult).onRecvFrom)
			awaitDgram(t, l, &got)
			if got.err != nil || string(buf[:got.n]) != want || got.from != clientAddr {
				t.Fatalf("got %q from %v (err %v), want %q from %v", buf[:got.n], got.from, got.err, want, clientAddr)
			}
		}
	})
}

// TestUDPConnectionRefused: a connected UDP socket learns of the ICMP port
// unreachable its datagram caused: its next receive fails with
// ECONNREFUSED.
func TestUDPConnectionRefused(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		// A port that was bound and is free again: nobody listens there.
		probe, deadAddr := listenUDP(t, l, loopback4)
		if err := closeFD(t, l, probe); err != nil {
			t.Fatal(err)
		}
		client, err := l.UDPSocket(loopback4)
		if err != nil {
			t.Fatal(err)
		}
		ownFD(t, l, client)
		var cc, sc, rc Completion
		var connected, sent opResult
		Connect(l, &cc, client, deadAddr, &connected, (*opResult).onErr)
		await(t, l, &connected)
		wantOK(t, "Connect", &connected)
		var got dgramResult
		RecvFrom(l, &rc, client, make([]byte, 16), &got, (*dgramResult).onRecvFrom)
		SendMsg(l, &sc, client, [][]byte{[]byte("anyone?")}, nil, netip.AddrPort{}, &sent, (*opResult).onCount)
		await(t, l, &sent)
		wantN(t, "SendMsg", &sent, 7)
		awaitDgram(t, l, &got)
		if !errors.Is(got.err, syscall.ECONNREFUSED) || got.n != 0 || got.from.IsValid() {
			t.Fatalf("RecvFrom after an ICMP port unreachable: n=%d from=%v err=%v, want ECONNREFUSED", got.n, got.from, got.err)
		}
	})
}

// TestUDPCancelRecvFrom: a pending RecvFrom is canceled once, and the
// socket then receives normally.
func TestUDPCancelRecvFrom(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		server, serverAddr := listenUDP(t, l, loopback4)
		client, _ := listenUDP(t, l, loopback4)
		var rc, cancel Completion
		var got dgramResult
		var canceled opResult
		buf := make([]byte, 64)
		RecvFrom(l, &rc, server, buf, &got, (*dgramResult).onRecvFrom)
		if err := l.RunFor(10 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		Cancel(l, &cancel, &rc, &canceled, (*opResult).onErr)
		await(t, l, &canceled)
		awaitDgram(t, l, &got)
		wantOK(t, "Cancel", &canceled)
		if !errors.Is(got.err, ErrCanceled) || got.n != 0 || got.from.IsValid() {
			t.Fatalf("canceled RecvFrom: n=%d from=%v err=%v", got.n, got.from, got.err)
		}

		var sc Completion
		var sent opResult
		SendTo(l, &sc, client, []byte("after"), serverAddr, &sent, (*opResult).onCount)
		await(t, l, &sent)
		got = dgramResult{}
		RecvFrom(l, &rc, server, buf, &got, (*dgramResult).onRecvFrom)
		awaitDgram(t, l, &got)
		if got.err != nil || string(buf[:got.n]) != "after" {
			t.Fatalf("RecvFrom after the Cancel: %q, %v", buf[:got.n], got.err)
		}
	})
}

// TestUDPCloseWithRecvPending: Loop.Close ends pending receives with
// exactly one callback each.
func TestUDPCloseWithRecvPending(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		server, _ := listenUDP(t, l, loopback4)
		var rc, mc Completion
		var got, gotMsg dgramResult
		oob := make([]byte, 64)
		if l.Backend() == BackendIOCP {
			oob = nil // no control data on IOCP (EOPNOTSUPP): a RecvMsg without
		}
		RecvFrom(l, &rc, server, make([]byte, 64), &got, (*dgramResult).onRecvFrom)
		RecvMsg(l, &mc, server, [][]byte{make([]byte, 64)}, oob, &gotMsg, (*dgramResult).onRecvMsg)
		if err := l.RunFor(10 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for _, r := range []*dgramResult{&got, &gotMsg} {
			if r.calls != 1 || !errors.Is(r.err, ErrCanceled) {
				t.Fatalf("after Close: calls=%d err=%v, want one ErrCanceled", r.calls, r.err)
			}
		}
	})
}

// TestUDPBadArguments: a bad descriptor, an invalid destination and a
// stream socket are errors through the callback, never a panic or a hang.
func TestUDPBadArguments(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, _ := listenUDP(t, l, loopback4)
		var c Completion
		var sent opResult
		SendTo(l, &c, badFD, []byte("x"), netip.MustParseAddrPort("127.0.0.1:9"), &sent, (*opResult).onCount)
		await(t, l, &sent)
		wantErr(t, "SendTo on a bad fd", &sent, syscall.EBADF)

		var got dgramResult
		RecvFrom(l, &c, badFD, make([]byte, 8), &got, (*dgramResult).onRecvFrom)
		awaitDgram(t, l, &got)
		if !errors.Is(got.err, syscall.EBADF) || got.from.IsValid() {
			t.Fatalf("RecvFrom on a bad fd: from=%v err=%v, want EBADF", got.from, got.err)
		}
		got = dgramResult{}
		RecvMsg(l, &c, badFD, [][]byte{make([]byte, 8)}, nil, &got, (*dgramResult).onRecvMsg)
		awaitDgram(t, l, &got)
		if !errors.Is(got.err, syscall.EBADF) {
			t.Fatalf("RecvMsg on a bad fd: %v, want EBADF", got.err)
		}
		sent = opResult{}
		SendMsg(l, &c, badFD, [][]byte{[]byte("x")}, nil, netip.MustParseAddrPort("127.0.0.1:9"), &sent, (*opResult).onCount)
		await(t, l, &sent)
		wantErr(t, "SendMsg on a bad fd", &sent, syscall.EBADF)

		sent = opResult{}
		SendTo(l, &c, client, []byte("x"), netip.AddrPort{}, &sent, (*opResult).onCount)
		await(t, l, &sent)
		wantErr(t, "SendTo to the zero AddrPort", &sent, syscall.EINVAL)

		sent = opResult{}
		SendTo(l, &c, client, []byte("x"), netip.MustParseAddrPort("127.0.0.1:0"), &sent, (*opResult).onCount)
		await(t, l, &sent)
		wantErr(t, "SendTo to port 0", &sent, syscall.EINVAL)

		if _, _, err := l.ListenUDP(netip.AddrPort{}, UDPOptions{}); !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("ListenUDP(zero AddrPort) = %v, want EINVAL", err)
		}
		if _, err := l.UDPSocket(netip.AddrPort{}); !errors.Is(err, syscall.EINVAL) {
			t.Fatalf("UDPSocket(zero AddrPort) = %v, want EINVAL", err)
		}
	})
}

// TestUDPSendMsgControlSim: the simulator carries no control data and
// says so (docs/ARCHITECTURE.md, "Where the backends differ").
func TestUDPSendMsgControlSim(t *testing.T) {
	l := newTestLoop(t, Options{Backend: BackendSimulator})
	client, _ := listenUDP(t, l, loopback4)
	var c Completion
	var sent opResult
	SendMsg(l, &c, client, [][]byte{[]byte("x")}, []byte{1, 2, 3, 4}, netip.MustParseAddrPort("127.0.0.1:9"), &sent, (*opResult).onCount)
	await(t, l, &sent)
	wantErr(t, "SendMsg with control data on the simulator", &sent, syscall.EOPNOTSUPP)
}
