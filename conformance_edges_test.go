package ioloop

import (
	"bytes"
	"io"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Conformance tests of the edges where the simulator used to differ from
// the kernel (issue 13): each case asserts what io_uring does on Linux,
// and runs on every backend, so that a backend that drifts from it fails.

// TestEdgeRecvZeroLength: recv(2) of zero bytes on a TCP socket with
// nothing to read waits until the socket is readable (tcp_recvmsg wants at
// least one byte before it returns), then returns 0 without consuming
// anything. read(2) of zero bytes on a socket returns 0 at once
// (sock_read_iter's "match SYS5 behaviour").
func TestEdgeRecvZeroLength(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)

		var recv opResult
		var rc Completion
		Recv(l, &rc, server, []byte{}, &recv, (*opResult).onCount)
		stillPending(t, l, 30*time.Millisecond, "zero-length Recv without data", &recv)

		var read opResult
		var readC Completion
		Read(l, &readC, server, []byte{}, -1, &read, (*opResult).onCount)
		await(t, l, &read)
		wantN(t, "zero-length Read on a socket without data", &read, 0)
		if recv.calls != 0 {
			t.Fatalf("zero-length Recv completed with the Read: n=%d err=%v", recv.n, recv.err)
		}

		writeAll(t, l, client, []byte("x"))
		await(t, l, &recv)
		wantN(t, "zero-length Recv once data arrived", &recv, 0)

		// It consumed nothing: the byte is still there.
		buf := make([]byte, 4)
		recv = opResult{}
		Recv(l, &rc, server, buf, &recv, (*opResult).onCount)
		await(t, l, &recv)
		wantN(t, "Recv after the zero-length one", &recv, 1)
		if buf[0] != 'x' {
			t.Fatalf("Recv got %q, want %q", buf[:1], "x")
		}
	})
}

// iovMax is IOV_MAX (UIO_MAXIOV): the most buffers readv(2), writev(2)
// and io_uring's vectored operations take.
const iovMax = 1024

func TestEdgeVectoredIOVMax(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		_, fd := tempFile(t, l, bytes.Repeat([]byte("r"), 2*iovMax))
		oneByteBufs := func(n int) [][]byte {
			bufs := make([][]byte, n)
			for i := range bufs {
				bufs[i] = []byte{'w'}
			}
			return bufs
		}
		var r opResult
		var c Completion
		for _, tc := range []struct {
			what  string
			count int
			err   error
		}{
			{"IOV_MAX buffers", iovMax, nil},
			{"IOV_MAX+1 buffers", iovMax + 1, syscall.EINVAL},
		} {
			r = opResult{}
			Writev(l, &c, fd, oneByteBufs(tc.count), 0, &r, (*opResult).onCount)
			await(t, l, &r)
			if tc.err == nil {
				wantN(t, "Writev of "+tc.what, &r, tc.count)
			} else {
				wantErr(t, "Writev of "+tc.what, &r, tc.err)
			}
			r = opResult{}
			Readv(l, &c, fd, oneByteBufs(tc.count), 0, &r, (*opResult).onCount)
			await(t, l, &r)
			if tc.err == nil {
				wantN(t, "Readv of "+tc.what, &r, tc.count)
			} else {
				wantErr(t, "Readv of "+tc.what, &r, tc.err)
			}
		}
	})
}

// Path limits: PATH_MAX counts the terminating NUL, so 4095 bytes is the
// longest path; NAME_MAX bounds each component.
const (
	pathMax = 4096
	nameMax = 255
)

// padPath lengthens dir/name to exactly size bytes with "/." components,
// and a doubled slash for an odd length, which name the same file.
func padPath(t *testing.T, dir, name string, size int) string {
	t.Helper()
	tail := "/" + name
	if (size-len(dir)-len(tail))%2 != 0 {
		tail = "/" + tail
	}
	pad := size - len(dir) - len(tail)
	if pad < 0 {
		t.Fatalf("cannot pad %q to %d bytes", dir+tail, size)
	}
	return dir + strings.Repeat("/.", pad/2) + tail
}

func TestEdgeOpenAtNameTooLong(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		skipOnIOCP(t, l, "Windows' limits are not NAME_MAX and PATH_MAX (MAX_PATH is 260 without the \\\\?\\ prefix), and wine reports a name too long as ERROR_FILE_NOT_FOUND")
		dir := tempDir(t, l)
		open := func(what, path string, flags int, want error) {
			t.Helper()
			var r opResult
			var c Completion
			OpenAt(l, &c, sysAT_FDCWD, path, flags, 0o600, &r, (*opResult).onCount)
			await(t, l, &r)
			if want != nil {
				wantErr(t, what, &r, want)
				if r.n != -1 {
					t.Fatalf("%s: fd %d with the error, want -1", what, r.n)
				}
				return
			}
			if r.err != nil || r.n < 0 {
				t.Fatalf("%s: fd=%d err=%v, want a descriptor", what, r.n, r.err)
			}
			if err := closeFD(t, l, r.n); err != nil {
				t.Fatalf("%s: Close: %v", what, err)
			}
		}
		longest := strings.Repeat("n", nameMax)
		open("create a NAME_MAX name", joinPath(l, dir, longest), sysO_CREAT|sysO_RDWR, nil)
		open("open a NAME_MAX name", joinPath(l, dir, longest), sysO_RDONLY, nil)
		open("create a NAME_MAX+1 name", joinPath(l, dir, longest+"n"), sysO_CREAT|sysO_RDWR, syscall.ENAMETOOLONG)
		open("open a NAME_MAX+1 name", joinPath(l, dir, longest+"n"), sysO_RDONLY, syscall.ENAMETOOLONG)

		open("create with a PATH_MAX-1 path", padPath(t, dir, "short", pathMax-1), sysO_CREAT|sysO_RDWR, nil)
		open("open a PATH_MAX path", padPath(t, dir, "short", pathMax), sysO_RDONLY, syscall.ENAMETOOLONG)
		open("create with a PATH_MAX path", padPath(t, dir, "other", pathMax), sysO_CREAT|sysO_RDWR, syscall.ENAMETOOLONG)
	})
}

// TestEdgeSendUnconnected: send(2) on a TCP socket that never connected
// fails with EPIPE (sk_stream_wait_connect), and a Recv with ENOTCONN.
func TestEdgeSendUnconnected(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		skipOnIOCP(t, l, "wine fails a WSASend on a never-connected socket as a reset connection (ECONNRESET); Windows documents WSAENOTCONN")
		fd := tcpSocket(t, l, loopback4)
		var send, recv opResult
		var sc, rc Completion
		Send(l, &sc, fd, []byte("x"), &send, (*opResult).onCount)
		await(t, l, &send)
		wantErr(t, "Send on an unconnected socket", &send, syscall.EPIPE)
		if send.n != 0 {
			t.Fatalf("Send on an unconnected socket: n=%d with the error, want 0", send.n)
		}
		Recv(l, &rc, fd, make([]byte, 1), &recv, (*opResult).onCount)
		await(t, l, &recv)
		wantErr(t, "Recv on an unconnected socket", &recv, syscall.ENOTCONN)

		// A listening socket is not connected either.
		lfd, _ := listenTCP(t, l, loopback4)
		send = opResult{}
		Send(l, &sc, lfd, []byte("x"), &send, (*opResult).onCount)
		await(t, l, &send)
		wantErr(t, "Send on a listening socket", &send, syscall.EPIPE)
	})
}

// TestEdgeTwoConnectsOnePass: two Connects of one socket submitted in one
// pass both succeed on io_uring (the second finds the connection under way
// and waits for it); a third, later, gets EISCONN.
func TestEdgeTwoConnectsOnePass(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		lfd, bound := listenTCP(t, l, loopback4)
		fd := tcpSocket(t, l, bound)
		var second opResult
		var c2 Completion
		acceptConnected(t, l, lfd, "first Connect", func(c *Completion, r *opResult) {
			Connect(l, c, fd, bound, r, (*opResult).onErr)
			Connect(l, &c2, fd, bound, &second, (*opResult).onErr)
		})
		await(t, l, &second)
		wantOK(t, "second Connect in the same pass", &second)

		var third opResult
		Connect(l, &c2, fd, bound, &third, (*opResult).onErr)
		await(t, l, &third)
		wantErr(t, "Connect of a connected socket", &third, syscall.EISCONN)
	})
}

// TestEdgeSendRecvWhileConnecting: a Send and a Recv submitted in the same
// pass as the Connect of their socket wait for the handshake instead of
// failing with ENOTCONN: the kernel's sk_stream_wait_connect and
// tcp_recvmsg wait on a socket in SYN_SENT.
func TestEdgeSendRecvWhileConnecting(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		lfd, bound := listenTCP(t, l, loopback4)
		fd := tcpSocket(t, l, bound)
		var send, recv opResult
		var sc, rc Completion
		buf := make([]byte, 8)
		server := acceptConnected(t, l, lfd, "Connect", func(c *Completion, r *opResult) {
			Connect(l, c, fd, bound, r, (*opResult).onErr)
			Send(l, &sc, fd, []byte("ping"), &send, (*opResult).onCount)
			Recv(l, &rc, fd, buf, &recv, (*opResult).onCount)
		})
		await(t, l, &send)
		wantN(t, "Send in the Connect's pass", &send, 4)
		if recv.calls != 0 {
			t.Fatalf("Recv in the Connect's pass completed before any data: n=%d err=%v", recv.n, recv.err)
		}
		if got := readAllNonblocking(t, l, server, 4); string(got) != "ping" {
			t.Fatalf("server got %q", got)
		}
		writeAll(t, l, server, []byte("pong"))
		await(t, l, &recv)
		wantN(t, "Recv in the Connect's pass", &recv, 4)
		if string(buf[:4]) != "pong" {
			t.Fatalf("Recv got %q", buf[:4])
		}
	})
}

// TestEdgeSparseWrite: a 1-byte write at 1 TiB makes a sparse file: its
// size is 1 TiB + 1, the hole reads as zeros, and it costs no memory or
// disk to speak of. On Windows a file is sparse only after
// FSCTL_SET_SPARSE, which a program asks for and the backend never issues
// (makeSparse; without it Windows would allocate and zero the terabyte).
func TestEdgeSparseWrite(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		const tib = int64(1) << 40
		_, fd := tempFile(t, l, []byte("head"))
		makeSparse(t, l, fd)
		var r opResult
		var c Completion
		Write(l, &c, fd, []byte("X"), tib, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Write of 1 byte at 1 TiB", &r, 1)
		if size := seekFile(t, l, fd, 0, io.SeekEnd); size != tib+1 {
			t.Fatalf("size %d after a write at 1 TiB, want %d", size, tib+1)
		}
		read := func(what string, offset int64, want []byte) {
			t.Helper()
			buf := bytes.Repeat([]byte{0xff}, 8)
			r = opResult{}
			Read(l, &c, fd, buf, offset, &r, (*opResult).onCount)
			await(t, l, &r)
			if r.err != nil || !bytes.Equal(buf[:r.n], want) {
				t.Fatalf("%s: n=%d err=%v got %q, want %q", what, r.n, r.err, buf[:r.n], want)
			}
		}
		read("Read at 0", 0, []byte("head\x00\x00\x00\x00"))
		read("Read in the hole", tib/2, make([]byte, 8))
		read("Read across the end", tib-4, []byte("\x00\x00\x00\x00X"))

		// Writing into the hole fills exactly what it writes.
		r = opResult{}
		Write(l, &c, fd, []byte("mid"), tib/2+2, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Write into the hole", &r, 3)
		read("Read around the filled part", tib/2, []byte("\x00\x00mid\x00\x00\x00"))
		if size := seekFile(t, l, fd, 0, io.SeekEnd); size != tib+1 {
			t.Fatalf("size %d after a write into the hole, want %d", size, tib+1)
		}
	})
}

// TestEdgeTimeoutMaxDuration: Timeout(math.MaxInt64) never fires (the
// deadline saturates instead of wrapping into the past) and cancels like
// any other Timeout.
func TestEdgeTimeoutMaxDuration(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		// Move the clock first: a deadline computed from 0 cannot wrap.
		if err := l.RunFor(time.Millisecond); err != nil {
			t.Fatalf("RunFor: %v", err)
		}
		var never, near, soon, cancel opResult
		var nc, nearC, sc, cc Completion
		Timeout(l, &nc, time.Duration(math.MaxInt64), &never, (*opResult).onErr)
		Timeout(l, &nearC, time.Duration(math.MaxInt64-int64(time.Millisecond)), &near, (*opResult).onErr)
		Timeout(l, &sc, 20*time.Millisecond, &soon, (*opResult).onErr)
		await(t, l, &soon)
		wantOK(t, "Timeout(20ms)", &soon)
		stillPending(t, l, 30*time.Millisecond, "Timeout(math.MaxInt64)", &never)
		if near.calls != 0 {
			t.Fatalf("Timeout(math.MaxInt64 - 1ms) fired: err=%v", near.err)
		}
		Cancel(l, &cc, &nc, &cancel, (*opResult).onErr)
		await(t, l, &cancel, &never)
		wantOK(t, "Cancel of Timeout(math.MaxInt64)", &cancel)
		wantErr(t, "canceled Timeout(math.MaxInt64)", &never, ErrCanceled)
		cancel = opResult{}
		Cancel(l, &cc, &nearC, &cancel, (*opResult).onErr)
		await(t, l, &cancel, &near)
		wantOK(t, "Cancel of Timeout(math.MaxInt64 - 1ms)", &cancel)
		wantErr(t, "canceled Timeout(math.MaxInt64 - 1ms)", &near, ErrCanceled)
	})
}

// TestEdgeTimeoutMinDuration: a negative Timeout, even math.MinInt64,
// fires on the next pass, as Timeout(0) does.
func TestEdgeTimeoutMinDuration(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		var r, later opResult
		var c, lc Completion
		Timeout(l, &lc, time.Hour, &later, (*opResult).onErr)
		Timeout(l, &c, time.Duration(math.MinInt64), &r, (*opResult).onErr)
		await(t, l, &r)
		wantOK(t, "Timeout(math.MinInt64)", &r)
		if later.calls != 0 {
			t.Fatal("Timeout(1h) fired")
		}
		cancelAndWait(t, l, &lc, &later)
	})
}

// cancelAndWait cancels target and waits for both callbacks.
func cancelAndWait(t *testing.T, l *Loop, target *Completion, r *opResult) {
	t.Helper()
	var cancel opResult
	var cc Completion
	Cancel(l, &cc, target, &cancel, (*opResult).onErr)
	await(t, l, &cancel, r)
	wantOK(t, "Cancel", &cancel)
	wantErr(t, "canceled operation", r, ErrCanceled)
}

// stopOnFire is a Timeout context that stops its loop when it fires.
type stopOnFire struct {
	opResult
	l *Loop
}

func (s *stopOnFire) onFire(c *Completion, err error) {
	s.onErr(c, err)
	s.l.Stop()
}

// TestEdgeRunForExtremes: RunFor(math.MaxInt64) runs until Stop (its
// deadline saturates; it used to wrap into the past and return at once),
// and a negative RunFor, even math.MinInt64, does one non-blocking pass
// (its remaining time used to wrap to nearly forever).
func TestEdgeRunForExtremes(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		if err := l.RunFor(time.Millisecond); err != nil {
			t.Fatalf("RunFor: %v", err)
		}
		// On the simulator a broken RunFor(math.MaxInt64) spins forever
		// without moving time; TestSimRunForEndOfTime tests it there,
		// bounded by a count of passes.
		if simOf(l) == nil {
			s := &stopOnFire{l: l}
			var c Completion
			Timeout(l, &c, 20*time.Millisecond, s, (*stopOnFire).onFire)
			if err := l.RunFor(time.Duration(math.MaxInt64)); err != nil {
				t.Fatalf("RunFor(math.MaxInt64): %v", err)
			}
			if s.calls != 1 || s.err != nil {
				t.Fatalf("RunFor(math.MaxInt64) returned before the Timeout that stops it fired (calls=%d err=%v)", s.calls, s.err)
			}
		}

		for _, d := range []time.Duration{-time.Nanosecond, time.Duration(math.MinInt64)} {
			// Should RunFor wait, this Timeout ends the wait and the test.
			guard := &stopOnFire{l: l}
			var gc Completion
			Timeout(l, &gc, 50*time.Millisecond, guard, (*stopOnFire).onFire)
			if err := l.RunFor(d); err != nil {
				t.Fatalf("RunFor(%d): %v", d, err)
			}
			if guard.calls != 0 {
				t.Fatalf("RunFor(%d) waited for a 50ms Timeout", d)
			}
			cancelAndWait(t, l, &gc, &guard.opResult)
		}
	})
}
