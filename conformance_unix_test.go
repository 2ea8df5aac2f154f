//go:build !windows

package ioloop

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// Conformance tests of Unix-only features: descriptors passed over AF_UNIX
// sockets (SCM_RIGHTS) and AF_UNIX itself: ioloop has no unix sockets on
// Windows (docs/ARCHITECTURE.md, "Windows").

// TestUDPRecvMsgRights passes a descriptor over a unix datagram socket
// pair with SCM_RIGHTS: real control data through SendMsg and RecvMsg.
func TestUDPRecvMsgRights(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "unix sockets and SCM_RIGHTS")
		// Plain SOCK_DGRAM and SetNonblock: macOS has no SOCK_NONBLOCK.
		pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range pair {
			if err := unix.SetNonblock(fd, true); err != nil {
				t.Fatal(err)
			}
		}
		closeOnCleanup(t, pair[0])
		closeOnCleanup(t, pair[1])
		passed, err := unix.Dup(pair[0])
		if err != nil {
			t.Fatal(err)
		}
		closeOnCleanup(t, passed)

		var sc, rc Completion
		var sent opResult
		SendMsg(l, &sc, pair[0], [][]byte{[]byte("fd")}, unix.UnixRights(passed), netip.AddrPort{}, &sent, (*opResult).onCount)
		await(t, l, &sent)
		wantN(t, "SendMsg with SCM_RIGHTS", &sent, 2)

		buf := make([]byte, 16)
		oob := make([]byte, unix.CmsgSpace(4))
		var got dgramResult
		RecvMsg(l, &rc, pair[1], [][]byte{buf}, oob, &got, (*dgramResult).onRecvMsg)
		awaitDgram(t, l, &got)
		if got.err != nil || got.n != 2 || string(buf[:2]) != "fd" || got.oobn == 0 || got.flags&unix.MSG_CTRUNC != 0 {
			t.Fatalf("RecvMsg: n=%d oobn=%d flags=%#x err=%v", got.n, got.oobn, got.flags, got.err)
		}
		if got.from.IsValid() {
			t.Fatalf("RecvMsg from a unix socket reported sender %v", got.from)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:got.oobn])
		if err != nil || len(msgs) != 1 {
			t.Fatalf("ParseSocketControlMessage: %d messages, %v", len(msgs), err)
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			t.Fatalf("ParseUnixRights: %v, %v", fds, err)
		}
		closeOnCleanup(t, fds[0])
		var st1, st2 unix.Stat_t
		if unix.Fstat(fds[0], &st1) != nil || unix.Fstat(passed, &st2) != nil || st1.Ino != st2.Ino {
			t.Fatal("the received descriptor is not the one sent")
		}

		// A control buffer too small for the rights: MSG_CTRUNC.
		sent = opResult{}
		SendMsg(l, &sc, pair[0], [][]byte{[]byte("again")}, unix.UnixRights(passed), netip.AddrPort{}, &sent, (*opResult).onCount)
		await(t, l, &sent)
		got = dgramResult{}
		RecvMsg(l, &rc, pair[1], [][]byte{buf}, make([]byte, 4), &got, (*dgramResult).onRecvMsg)
		awaitDgram(t, l, &got)
		if got.err != nil || got.n != 5 || got.flags&unix.MSG_CTRUNC == 0 {
			t.Fatalf("RecvMsg with a 4-byte control buffer: n=%d flags=%#x err=%v, want MSG_CTRUNC", got.n, got.flags, got.err)
		}
	})
}

// TestSendZCUnixSocket: AF_UNIX has no zero-copy path (io_uring answers
// EOPNOTSUPP); SendZC is then a Send, with a Send's results, on every
// backend.
func TestSendZCUnixSocket(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "a kernel socketpair")
		for _, size := range []int{1, 64 << 10, 1<<20 + 7} {
			fds, err := nonblockingSocketpair()
			if err != nil {
				t.Fatal(err)
			}
			ownFD(t, l, fds[0])
			ownFD(t, l, fds[1])
			sendZCThroughReader(t, l, fds[0], fds[1], pattern(size, uint32(size)))
		}
	})
}
