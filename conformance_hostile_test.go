package ioloop

import (
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Descriptors a careless or hostile program may hand the loop (issue 13):
// blocking ones, absurd numbers, offsets that make no sense for the file,
// sockets whose peer has gone. None may hang, kill or silently split the
// backends. The cases that need Unix mechanisms (blocking descriptors,
// pipes, SIGPIPE) are in conformance_hostile_unix_test.go.

// Item 3: the readiness backend's fd table must follow the descriptors in
// use, not the largest number handed to it: an absurd number is EBADF at
// no memory cost. (Before the fix, fd 1<<24 allocated about 0.9 GB and
// fd 1<<30 killed the process; the smaller number goes first so that the
// test fails rather than dies.)
func TestHugeDescriptorNumberCostsNoMemory(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for _, fd := range []int{1 << 24, 1<<30 + 7, 1<<31 - 1} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			buf := make([]byte, 8)
			var recv, send, read, write, acc, conn, shut, cl opResult
			var c [8]Completion
			Recv(l, &c[0], fd, buf, &recv, (*opResult).onCount)
			Send(l, &c[1], fd, buf, &send, (*opResult).onCount)
			Read(l, &c[2], fd, buf, -1, &read, (*opResult).onCount)
			Write(l, &c[3], fd, buf, 0, &write, (*opResult).onCount)
			Accept(l, &c[4], fd, &acc, (*opResult).onCount)
			Connect(l, &c[5], fd, netip.MustParseAddrPort("127.0.0.1:9"), &conn, (*opResult).onErr)
			Shutdown(l, &c[6], fd, sysSHUT_RDWR, &shut, (*opResult).onErr)
			Close(l, &c[7], fd, &cl, (*opResult).onErr)
			await(t, l, &recv, &send, &read, &write, &acc, &conn, &shut, &cl)
			runtime.ReadMemStats(&after)
			for name, r := range map[string]*opResult{"Recv": &recv, "Send": &send, "Read": &read, "Write": &write,
				"Accept": &acc, "Connect": &conn, "Shutdown": &shut, "Close": &cl} {
				wantErr(t, name+" on fd "+strconv.Itoa(fd), r, syscall.EBADF)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Fatalf("operations on fd %d allocated %d bytes; memory must follow the descriptors in use", fd, grew)
			}
		}
	})
}

// Item 4: the offset of Read, Write, Readv and Writev is ignored on a
// descriptor that has no position (a socket, a pipe), as io_uring ignores
// it there; an offset below -1 is EINVAL on every backend and every file.
func TestOffsetRules(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		fds := newTestFDs(t, l)
		a, b := fds.socketPair()
		// Offset 0 is the current position on a socket, as on io_uring.
		var w, r, wv, rv opResult
		var wc, rc Completion
		buf := make([]byte, 8)
		Write(l, &wc, a, []byte("abc"), 0, &w, (*opResult).onCount)
		await(t, l, &w)
		wantN(t, "Write at offset 0 on a socket", &w, 3)
		Read(l, &rc, b, buf, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Read at offset 0 on a socket", &r, 3)
		Writev(l, &wc, a, [][]byte{[]byte("de")}, 0, &wv, (*opResult).onCount)
		await(t, l, &wv)
		wantN(t, "Writev at offset 0 on a socket", &wv, 2)
		Readv(l, &rc, b, [][]byte{buf}, 0, &rv, (*opResult).onCount)
		await(t, l, &rv)
		wantN(t, "Readv at offset 0 on a socket", &rv, 2)
		// Any other offset is ESPIPE: the socket has no position.
		var rs [4]opResult
		var cs [4]Completion
		Write(l, &cs[0], a, buf, 12345, &rs[0], (*opResult).onCount)
		Writev(l, &cs[1], a, [][]byte{buf}, 12345, &rs[1], (*opResult).onCount)
		Read(l, &cs[2], b, buf, 12345, &rs[2], (*opResult).onCount)
		Readv(l, &cs[3], b, [][]byte{buf}, 12345, &rs[3], (*opResult).onCount)
		await(t, l, &rs[0], &rs[1], &rs[2], &rs[3])
		for i, name := range []string{"Write", "Writev", "Read", "Readv"} {
			wantErr(t, name+" at offset 12345 on a socket", &rs[i], syscall.ESPIPE)
		}
		if rfd, wfd, ok := offsetTestPipe(t, l); ok {
			var w, r opResult
			var wc, rc Completion
			Write(l, &wc, wfd, []byte("pipe"), 0, &w, (*opResult).onCount)
			await(t, l, &w)
			wantN(t, "Write at offset 0 on a pipe", &w, 4)
			Read(l, &rc, rfd, make([]byte, 8), 0, &r, (*opResult).onCount)
			await(t, l, &r)
			wantN(t, "Read at offset 0 on a pipe", &r, 4)
			var ws, rs opResult
			Write(l, &wc, wfd, []byte("pipe"), 12345, &ws, (*opResult).onCount)
			Read(l, &rc, rfd, make([]byte, 8), 12345, &rs, (*opResult).onCount)
			await(t, l, &ws, &rs)
			if l.Backend() == BackendIOUring {
				// The kernel ignores the offset of a pipe (a stream file),
				// as it does 0, where it refuses a socket's (the
				// difference is documented in ARCHITECTURE).
				wantN(t, "Write at offset 12345 on a pipe, io_uring", &ws, 4)
				wantN(t, "Read at offset 12345 on a pipe, io_uring", &rs, 4)
			} else {
				wantErr(t, "Write at offset 12345 on a pipe", &ws, syscall.ESPIPE)
				wantErr(t, "Read at offset 12345 on a pipe", &rs, syscall.ESPIPE)
			}
		}
		path := joinPath(l, tempDir(t, l), "f")
		if simOf(l) == nil {
			if err := os.WriteFile(path, []byte("0123456789"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		file := openForTest(t, l, path)
		for _, target := range []struct {
			what string
			fd   int
		}{{"a socket", a}, {"a file", file}} {
			for _, offset := range []int64{-2, -1 << 62} {
				var rs [4]opResult
				var cs [4]Completion
				buf := make([]byte, 4)
				Read(l, &cs[0], target.fd, buf, offset, &rs[0], (*opResult).onCount)
				Write(l, &cs[1], target.fd, buf, offset, &rs[1], (*opResult).onCount)
				Readv(l, &cs[2], target.fd, [][]byte{buf}, offset, &rs[2], (*opResult).onCount)
				Writev(l, &cs[3], target.fd, [][]byte{buf}, offset, &rs[3], (*opResult).onCount)
				await(t, l, &rs[0], &rs[1], &rs[2], &rs[3])
				for i, name := range []string{"Read", "Write", "Readv", "Writev"} {
					wantErr(t, name+" at offset "+strconv.FormatInt(offset, 10)+" on "+target.what, &rs[i], syscall.EINVAL)
				}
			}
		}
	})
}

// openForTest opens path read-write through the loop (creating it on the
// simulator's disk) and closes it when the test ends.
func openForTest(t *testing.T, l *Loop, path string) int {
	t.Helper()
	var r opResult
	var c Completion
	OpenAt(l, &c, sysAT_FDCWD, path, sysO_RDWR|sysO_CREAT, 0o600, &r, (*opResult).onCount)
	await(t, l, &r)
	if r.err != nil {
		t.Fatalf("OpenAt %s: %v", path, r.err)
	}
	ownFD(t, l, r.n)
	return r.n
}

// Item 7: two Cancels of one in-flight operation submitted in one pass
// both answer nil on every backend (io_uring's answer: the target was
// canceled, whichever Cancel did it); the target gets exactly one
// ErrCanceled.
func TestTwoCancelsInOnePass(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		fds := newTestFDs(t, l)
		a, _ := fds.socketPair()
		var target, first, second opResult
		var tc, c1, c2 Completion
		Recv(l, &tc, a, make([]byte, 8), &target, (*opResult).onCount)
		stillPending(t, l, time.Millisecond, "Recv", &target)
		Cancel(l, &c1, &tc, &first, (*opResult).onErr)
		Cancel(l, &c2, &tc, &second, (*opResult).onErr)
		await(t, l, &target, &first, &second)
		wantErr(t, "target", &target, ErrCanceled)
		wantOK(t, "first Cancel", &first)
		wantOK(t, "second Cancel", &second)
		// A Cancel submitted after the target's callback ran finds nothing.
		var late opResult
		var lc Completion
		Cancel(l, &lc, &tc, &late, (*opResult).onErr)
		await(t, l, &late)
		wantErr(t, "Cancel after the target's callback", &late, ErrNotFound)
	})
}

// Item 8: what closing a descriptor through the loop does to a Recv waiting
// on it, when the peer then writes (ops.go, Close). io_uring: the Recv
// holds its own reference to the socket and receives the bytes. Readiness:
// the Close cancels it (ErrCanceled, before the Close's own callback).
// IOCP: closesocket aborts it (ErrCanceled, perhaps after the Close's
// callback). The simulator: the closed socket is gone, and the peer's
// bytes reset the Recv (ECONNRESET).
func TestCloseWithRecvPending(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		fds := newTestFDs(t, l)
		a, b := fds.socketPair()
		delete(fds.open, a) // the loop closes it
		buf := make([]byte, 8)
		_, r, closed := recvThenClose(t, l, a, buf)
		switch l.Backend() {
		case BackendEpoll, BackendKqueue:
			if r.calls != 1 || r.seq > closed.seq {
				t.Fatalf("Recv: calls=%d, seq %d, Close seq %d: want it canceled before the Close's callback", r.calls, r.seq, closed.seq)
			}
			wantErr(t, "Recv on the closed socket", r, ErrCanceled)
			return
		case BackendIOCP:
			// closesocket aborts the pending WSARecv; its packet may
			// arrive after the Close's callback.
			await(t, l, r)
			wantErr(t, "Recv on the closed socket", r, ErrCanceled)
			if err := l.RunFor(10 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if r.calls != 1 {
				t.Fatalf("Recv: %d callbacks, want one", r.calls)
			}
			return
		}
		stillPending(t, l, 10*time.Millisecond, "Recv on the closed socket", r)
		if simOf(l) != nil {
			var w opResult
			var wc Completion
			Send(l, &wc, b, []byte("late"), &w, (*opResult).onCount)
			await(t, l, &w, r)
			wantErr(t, "Recv on the closed socket", r, syscall.ECONNRESET)
			return
		}
		writeAll(t, l, b, []byte("late"))
		await(t, l, r)
		wantN(t, "Recv on the closed socket", r, 4)
		if string(buf[:4]) != "late" {
			t.Fatalf("Recv got %q", buf[:4])
		}
	})
}

// recvThenClose starts a Recv on fd, checks that it waits, and closes fd
// through the loop, returning the Recv's Completion and both results.
func recvThenClose(t *testing.T, l *Loop, fd int, buf []byte) (c *Completion, r, closed *opResult) {
	t.Helper()
	c, r, closed = new(Completion), new(opResult), new(opResult)
	var closeC Completion
	Recv(l, c, fd, buf, r, (*opResult).onCount)
	stillPending(t, l, time.Millisecond, "Recv", r)
	Close(l, &closeC, fd, closed, (*opResult).onErr)
	await(t, l, closed)
	wantOK(t, "Close", closed)
	return c, r, closed
}
