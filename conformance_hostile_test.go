//go:build !windows

package ioloop

import (
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Descriptors a careless or hostile program may hand the loop (issue 13):
// blocking ones, absurd numbers, offsets that make no sense for the file,
// sockets whose peer has gone. None may hang, kill or silently split the
// backends.

// blockingSocketpair returns an AF_UNIX stream pair with O_NONBLOCK clear,
// as os.File.Fd() leaves a descriptor.
func blockingSocketpair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	closeOnCleanup(t, fds[0])
	closeOnCleanup(t, fds[1])
	return fds[0], fds[1]
}

// fillBlocking writes into the blocking descriptor fd until it would
// block, by making it non-blocking for the while.
func fillBlocking(t *testing.T, fd int) {
	t.Helper()
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := unix.Write(fd, chunk); err == syscall.EAGAIN {
			break
		} else if err != nil {
			t.Fatalf("filling fd %d: %v", fd, err)
		}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		t.Fatal(err)
	}
}

// blockingListener returns a loopback TCP listener with O_NONBLOCK clear.
func blockingListener(t *testing.T, backlog int) int {
	t.Helper()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, backlog); err != nil {
		t.Fatal(err)
	}
	return lfd
}

// unblockLater runs unblock after d on another goroutine, so that a loop
// stuck in a blocking system call (the defect under test) comes back and
// the test fails instead of hanging. The returned function waits for it.
func unblockLater(d time.Duration, unblock func()) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(d)
		unblock()
	}()
	return func() { <-done }
}

// hostileRescue is how long a test lets a stuck loop stay stuck.
const hostileRescue = time.Second

// Item 2: a Recv, Send or Accept on a descriptor whose O_NONBLOCK is clear
// must not block the loop: a Timeout submitted alongside still fires on
// time.
func TestBlockingDescriptorDoesNotStopTheLoop(t *testing.T) {
	cases := []struct {
		name string
		// start submits the operation that would block, and returns what
		// makes it complete if the loop is stuck in it.
		start func(t *testing.T, l *Loop, c *Completion, r *opResult) (rescue func())
	}{
		{"Recv", func(t *testing.T, l *Loop, c *Completion, r *opResult) func() {
			a, b := blockingSocketpair(t)
			Recv(l, c, a, make([]byte, 16), r, (*opResult).onCount)
			return func() { unix.Write(b, []byte("x")) }
		}},
		{"Send", func(t *testing.T, l *Loop, c *Completion, r *opResult) func() {
			a, b := blockingSocketpair(t)
			fillBlocking(t, a)
			Send(l, c, a, make([]byte, 64<<10), r, (*opResult).onCount)
			return func() { unix.Shutdown(b, unix.SHUT_RDWR) }
		}},
		{"Read on a socket", func(t *testing.T, l *Loop, c *Completion, r *opResult) func() {
			a, b := blockingSocketpair(t)
			Read(l, c, a, make([]byte, 16), -1, r, (*opResult).onCount)
			return func() { unix.Write(b, []byte("x")) }
		}},
		{"Write on a socket", func(t *testing.T, l *Loop, c *Completion, r *opResult) func() {
			a, b := blockingSocketpair(t)
			fillBlocking(t, a)
			Write(l, c, a, make([]byte, 64<<10), -1, r, (*opResult).onCount)
			return func() { unix.Shutdown(b, unix.SHUT_RDWR) }
		}},
		{"Accept", func(t *testing.T, l *Loop, c *Completion, r *opResult) func() {
			lfd := blockingListener(t, 8)
			sa, _ := unix.Getsockname(lfd)
			Accept(l, c, lfd, r, (*opResult).onCount)
			return func() {
				if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0); err == nil {
					unix.Connect(fd, sa)
					unix.Close(fd)
				}
			}
		}},
	}
	cases = append(cases, struct {
		name  string
		start func(t *testing.T, l *Loop, c *Completion, r *opResult) (rescue func())
	}{"Connect", func(t *testing.T, l *Loop, c *Completion, r *opResult) func() {
		// A listener whose accept queue is full drops the SYN: a blocking
		// connect(2) would wait for the retransmission.
		lfd := blockingListener(t, 0)
		sa, _ := unix.Getsockname(lfd)
		for i := 0; i < 4; i++ {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			unix.SetNonblock(fd, true)
			closeOnCleanup(t, fd)
			unix.Connect(fd, sa)
		}
		time.Sleep(10 * time.Millisecond)
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		closeOnCleanup(t, fd)
		addr, _ := LocalAddr(lfd)
		Connect(l, c, fd, addr, r, (*opResult).onErr)
		return func() { disownFD(lfd); unix.Close(lfd) } // the next SYN is refused
	}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
				needsKernel(t, l, "descriptors with O_NONBLOCK clear")
				var r, timer opResult
				var c, timerC Completion
				rescue := tc.start(t, l, &c, &r)
				Timeout(l, &timerC, 20*time.Millisecond, &timer, (*opResult).onErr)
				wait := unblockLater(hostileRescue, rescue)
				defer wait()
				start := time.Now()
				runUntil(t, l, waitLimit, timer.done)
				if took := time.Since(start); took > hostileRescue/2 {
					t.Fatalf("a 20ms Timeout fired after %v: the loop was blocked in the %s", took, tc.name)
				}
				if r.calls != 0 {
					t.Fatalf("%s completed while it should wait: n=%d err=%v", tc.name, r.n, r.err)
				}
				wait()
				runUntil(t, l, waitLimit, r.done) // the rescue completes it, one way or another
			})
		})
	}
}

// Item 1: Close must not wait for a Read or Write stuck on a blocking pipe
// (stdin from a pipe, a terminal): the operation gets exactly one
// ErrCanceled and Close returns at once, as on io_uring.
func TestCloseDoesNotWaitOnBlockingPipe(t *testing.T) {
	for _, write := range []bool{false, true} {
		name := "Read"
		if write {
			name = "Write"
		}
		t.Run(name, func(t *testing.T) {
			forEachBackendNoLoop(t, func(t *testing.T, backend Backend) {
				if backend == BackendSimulator {
					t.Skip("needs the kernel: pipes")
				}
				l := newTestLoop(t, Options{Backend: backend})
				rfd, wfd := blockingPipe(t)
				var r opResult
				var c Completion
				var rescue func()
				if write {
					fillBlocking(t, wfd)
					Write(l, &c, wfd, []byte("x"), -1, &r, (*opResult).onCount)
					rescue = func() {
						unix.SetNonblock(rfd, true)
						drain := make([]byte, 64<<10)
						for {
							if _, err := unix.Read(rfd, drain); err != nil {
								break
							}
						}
					}
				} else {
					Read(l, &c, rfd, make([]byte, 8), -1, &r, (*opResult).onCount)
					rescue = func() { unix.Write(wfd, []byte("x")) }
				}
				stillPending(t, l, 20*time.Millisecond, name, &r)
				wait := unblockLater(hostileRescue, rescue)
				defer wait()
				start := time.Now()
				if err := l.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if took := time.Since(start); took > hostileRescue/2 {
					t.Errorf("Close took %v: it waited for the %s on a blocking pipe", took, name)
				}
				wantErr(t, name, &r, ErrCanceled)
			})
		})
	}
}

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
			Shutdown(l, &c[6], fd, unix.SHUT_RDWR, &shut, (*opResult).onErr)
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
		if simOf(l) == nil {
			rfd, wfd := blockingPipe(t)
			var w, r opResult
			var wc, rc Completion
			Write(l, &wc, wfd, []byte("pipe"), 0, &w, (*opResult).onCount)
			await(t, l, &w)
			wantN(t, "Write at offset 0 on a pipe", &w, 4)
			Read(l, &rc, rfd, make([]byte, 8), 0, &r, (*opResult).onCount)
			await(t, l, &r)
			wantN(t, "Read at offset 0 on a pipe", &r, 4)
		}
		path := filepath.Join(tempDir(t, l), "f")
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
	OpenAt(l, &c, unix.AT_FDCWD, path, unix.O_RDWR|unix.O_CREAT, 0o600, &r, (*opResult).onCount)
	await(t, l, &r)
	if r.err != nil {
		t.Fatalf("OpenAt %s: %v", path, r.err)
	}
	ownFD(t, l, r.n)
	return r.n
}

// Item 9: Write (not Send) to a socket whose peer has gone returns EPIPE.
// The readiness backends write to a socket with send(MSG_NOSIGNAL), so no
// SIGPIPE is raised; io_uring's IORING_OP_WRITE is write(2), which raises
// it (documented on Write; Go ignores it unless the program asked for it
// with signal.Notify, as this test does).
func TestWriteToSocketWithPeerGone(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "signals")
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, syscall.SIGPIPE)
		defer signal.Stop(sigs)
		a, b := blockingSocketpair(t)
		closeFD(t, nil, b)
		for _, op := range []string{"Write", "Writev"} {
			var r opResult
			var c Completion
			if op == "Write" {
				Write(l, &c, a, []byte("gone"), -1, &r, (*opResult).onCount)
			} else {
				Writev(l, &c, a, [][]byte{[]byte("gone")}, -1, &r, (*opResult).onCount)
			}
			await(t, l, &r)
			wantErr(t, op+" to a socket whose peer closed", &r, syscall.EPIPE)
			raised := false
			select {
			case <-sigs:
				raised = true
			case <-time.After(100 * time.Millisecond):
			}
			wantSignal := l.Backend() == BackendIOUring
			if raised != wantSignal {
				t.Fatalf("%s on %v: SIGPIPE raised = %v, documented %v", op, l.Backend(), raised, wantSignal)
			}
		}
	})
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
// the Close cancels it (ErrCanceled, before the Close's own callback). The
// simulator: the closed socket is gone, and the peer's bytes reset the
// Recv (ECONNRESET).
func TestCloseWithRecvPending(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		fds := newTestFDs(t, l)
		a, b := fds.socketPair()
		delete(fds.open, a) // the loop closes it
		buf := make([]byte, 8)
		_, r, closed := recvThenClose(t, l, a, buf)
		switch l.Backend() {
		case readinessBackendKind:
			if r.calls != 1 || r.seq > closed.seq {
				t.Fatalf("Recv: calls=%d, seq %d, Close seq %d: want it canceled before the Close's callback", r.calls, r.seq, closed.seq)
			}
			wantErr(t, "Recv on the closed socket", r, ErrCanceled)
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
