package ioloop

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The per-OS helpers of conformance_hostile_blocking_test.go on Windows,
// where a descriptor whose calls block is a handle opened for synchronous
// I/O (backend_iocp_sync_windows.go).

// offsetTestPipe returns an anonymous pipe for TestOffsetRules, on iocp
// (the simulator has no pipes).
func offsetTestPipe(t *testing.T, l *Loop) (r, w int, ok bool) {
	if simOf(l) != nil {
		return -1, -1, false
	}
	r, w = blockingPipe(t)
	return r, w, true
}

// refusesFullBacklog: Windows answers a SYN to a full accept queue with a
// reset, where Linux (and so wine) drops it.
const refusesFullBacklog = true

var (
	procAcceptRaw     = windows.NewLazySystemDLL("ws2_32.dll").NewProc("accept")
	procPeekNamedPipe = kernel32.NewProc("PeekNamedPipe")
)

// synchronousSocket returns a TCP socket made without
// WSA_FLAG_OVERLAPPED: its calls block, and no completion port takes it.
func synchronousSocket(t *testing.T) windows.Handle {
	t.Helper()
	s, err := windows.WSASocket(windows.AF_INET, windows.SOCK_STREAM, windows.IPPROTO_TCP, nil, 0, 0)
	if err != nil {
		t.Fatalf("WSASocket: %v", err)
	}
	closeOnCleanup(t, int(s))
	return s
}

// blockingSocketpair returns a connected loopback TCP pair whose first
// socket is synchronous (synchronousSocket); the second is the peer the
// test acts through.
func blockingSocketpair(t *testing.T) (a, b int) {
	t.Helper()
	lfd := blockingListener(t, 1)
	sa, err := windows.Getsockname(windows.Handle(lfd))
	if err != nil {
		t.Fatal(err)
	}
	s := synchronousSocket(t)
	if err := windows.Connect(s, sa); err != nil {
		t.Fatalf("connect: %v", err)
	}
	r, _, err := procAcceptRaw.Call(uintptr(lfd), 0, 0)
	if windows.Handle(r) == windows.InvalidHandle {
		t.Fatalf("accept: %v", err)
	}
	closeOnCleanup(t, int(r))
	return int(s), int(r)
}

// fillBlocking writes into fd until a write would block: a socket made
// non-blocking for the while (FIONBIO), a pipe put in PIPE_NOWAIT mode for
// the while, written in 1 KiB steps (a write that does not fit whole
// writes nothing in that mode).
func fillBlocking(t *testing.T, fd int) {
	t.Helper()
	h := windows.Handle(fd)
	if !isSocket(h) {
		fillPipe(t, fd)
		return
	}
	setFIONBIO(t, fd, true)
	chunk := make([]byte, 64<<10)
	for {
		if _, err := rawWrite(fd, chunk); err == syscall.EAGAIN {
			break
		} else if err != nil {
			t.Fatalf("filling fd %d: %v", fd, err)
		}
	}
	setFIONBIO(t, fd, false)
}

func setFIONBIO(t *testing.T, fd int, on bool) {
	t.Helper()
	arg := uint32(0)
	if on {
		arg = 1
	}
	if r, _, err := procIoctlsocket.Call(uintptr(fd), fionbio, uintptr(unsafe.Pointer(&arg))); r != 0 {
		t.Fatalf("FIONBIO: %v", err)
	}
}

// blockingListener returns a loopback TCP listener in blocking mode: an
// overlapped socket (socket(2)'s default on Windows) with FIONBIO off, as
// Accept needs (a synchronous listener fails it with EINVAL).
func blockingListener(t *testing.T, backlog int) int {
	t.Helper()
	s, err := windows.Socket(windows.AF_INET, windows.SOCK_STREAM, windows.IPPROTO_TCP)
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, int(s))
	if err := windows.Bind(s, &windows.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := windows.Listen(s, backlog); err != nil {
		t.Fatal(err)
	}
	return int(s)
}

// fullBacklogListener returns a loopback listener whose accept queue is
// full (under wine, whose sockets are Linux's, the next SYN is dropped).
func fullBacklogListener(t *testing.T) int {
	t.Helper()
	lfd := blockingListener(t, 0)
	sa, _ := windows.Getsockname(windows.Handle(lfd))
	for i := 0; i < 4; i++ {
		s, err := windows.Socket(windows.AF_INET, windows.SOCK_STREAM, windows.IPPROTO_TCP)
		if err != nil {
			t.Fatal(err)
		}
		closeOnCleanup(t, int(s))
		setFIONBIO(t, int(s), true)
		windows.Connect(s, sa) // WSAEWOULDBLOCK: under way
	}
	time.Sleep(10 * time.Millisecond)
	return lfd
}

// unblockingSocket returns an overlapped TCP socket in blocking mode, for
// Connect.
func unblockingSocket(t *testing.T) int {
	t.Helper()
	s, err := windows.Socket(windows.AF_INET, windows.SOCK_STREAM, windows.IPPROTO_TCP)
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, int(s))
	return int(s)
}

// blockingPipe returns an anonymous pipe (CreatePipe makes synchronous
// handles) with a 4 KiB buffer.
func blockingPipe(t *testing.T) (r, w int) {
	t.Helper()
	var rh, wh windows.Handle
	if err := windows.CreatePipe(&rh, &wh, nil, 4096); err != nil {
		t.Fatal(err)
	}
	noteHandleBorn(rh) // see nonblockingPipe
	noteHandleBorn(wh)
	closeOnCleanup(t, int(rh))
	closeOnCleanup(t, int(wh))
	return int(rh), int(wh)
}

// rescueWrite writes one byte into the socket or pipe fd.
func rescueWrite(fd int) {
	if isSocket(windows.Handle(fd)) {
		rawWrite(fd, []byte("x"))
		return
	}
	var n uint32
	windows.WriteFile(windows.Handle(fd), []byte("x"), &n, nil)
}

// rescueShutdown reads what the socket fd holds and shuts it down both
// ways: a TCP peer (not Unix's socketpair) shut down for reading still
// holds what a blocked sender waits to be taken.
func rescueShutdown(fd int) {
	buf := make([]byte, 64<<10)
	for {
		if n, err := rawReadNonblocking(fd, buf); err != nil || n == 0 {
			break
		}
	}
	windows.Shutdown(windows.Handle(fd), windows.SHUT_RDWR)
}

// rescueDrain reads everything the pipe fd holds, without blocking.
func rescueDrain(fd int) {
	buf := make([]byte, 64<<10)
	for {
		var avail uint32
		procPeekNamedPipe.Call(uintptr(fd), 0, 0, 0, uintptr(unsafe.Pointer(&avail)), 0)
		if avail == 0 {
			return
		}
		var n uint32
		if windows.ReadFile(windows.Handle(fd), buf[:min(int(avail), len(buf))], &n, nil) != nil {
			return
		}
	}
}

// TestSynchronousSocketRefused: the operations that need an overlapped
// socket fail at once with EINVAL on a synchronous one, on a loop that
// keeps running; Recv on the same socket runs on a worker.
func TestSynchronousSocketRefused(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "synchronous handles")
		pool := newTestPool(t, l, 2, 64)
		s := int(synchronousSocket(t))
		a, b := blockingSocketpair(t)
		cases := []struct {
			name  string
			start func(c *Completion, r *opResult)
		}{
			{"Accept", func(c *Completion, r *opResult) { Accept(l, c, s, r, (*opResult).onCount) }},
			{"Connect", func(c *Completion, r *opResult) {
				Connect(l, c, s, netip.MustParseAddrPort("127.0.0.1:9"), r, (*opResult).onErr)
			}},
		}
		for _, tc := range cases {
			var r opResult
			var c Completion
			tc.start(&c, &r)
			await(t, l, &r)
			wantErr(t, tc.name+" on a synchronous socket", &r, syscall.EINVAL)
		}
		log := &shotLog{pool: pool, moreOK: true}
		var pc Completion
		RecvPooled(l, &pc, a, pool, log, (*shotLog).onRecv)
		runUntil(t, l, waitLimit, func() bool { return log.ended > 0 })
		if !errors.Is(log.final, syscall.EINVAL) || log.ended != 1 || log.shots != 0 {
			t.Fatalf("RecvPooled on a synchronous socket: %d shots, final %v (%d finals); want EINVAL once", log.shots, log.final, log.ended)
		}
		var r opResult
		var c Completion
		got := make([]byte, 8)
		Recv(l, &c, a, got, &r, (*opResult).onCount)
		stillPending(t, l, 20*time.Millisecond, "Recv on a synchronous socket", &r)
		rescueWrite(b)
		await(t, l, &r)
		wantOK(t, "Recv on a synchronous socket", &r)
		if r.n != 1 || got[0] != 'x' {
			t.Fatalf("Recv on a synchronous socket: %d bytes %q, want \"x\"", r.n, got[:max(r.n, 0)])
		}
	})
}

// TestSynchronousFileHandle: a disk file opened without
// FILE_FLAG_OVERLAPPED (as os.Open opens them) is read and written at
// offsets and at the loop's position, on a worker, into the caller's
// buffers.
func TestSynchronousFileHandle(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "synchronous handles")
		path := filepath.Join(kernelTempDir(t), "sync")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fd := int(f.Fd())
		var r opResult
		var c Completion
		Write(l, &c, fd, []byte("hello, world"), 0, &r, (*opResult).onCount)
		await(t, l, &r)
		if wantOK(t, "Write", &r); r.n != 12 {
			t.Fatalf("Write: %d bytes, want 12", r.n)
		}
		got := make([]byte, 5)
		r = opResult{}
		Read(l, &c, fd, got, 7, &r, (*opResult).onCount)
		await(t, l, &r)
		if wantOK(t, "Read", &r); string(got[:r.n]) != "world" {
			t.Fatalf("Read at 7: %q, want \"world\"", got[:r.n])
		}
		r = opResult{}
		Readv(l, &c, fd, [][]byte{make([]byte, 3), make([]byte, 100)}, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		if wantOK(t, "Readv", &r); r.n != 12 {
			t.Fatalf("Readv: %d bytes, want 12", r.n)
		}
	})
}

// TestAllocsSynchronousPipe: a Write and a Read of a synchronous pipe (on
// a worker, through the record's buffer) allocate nothing in steady state.
func TestAllocsSynchronousPipe(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "pipes")
		r, w := blockingPipe(t)
		s := &allocState{loop: l}
		out, in := []byte("0123456789"), make([]byte, 10)
		wantNoAllocs(t, s, 200, func() {
			Write(l, &s.c, w, out, -1, s, (*allocState).onCount)
			Read(l, &s.c2, r, in, -1, s, (*allocState).onCount)
			s.wait(2)
		})
		if string(in) != string(out) {
			t.Fatalf("read %q, want %q", in, out)
		}
	})
}

// setBlockingMode puts the socket fd in blocking mode (FIONBIO off).
func setBlockingMode(t *testing.T, fd int) { setFIONBIO(t, fd, false) }

// TestSynchronousStreamSteps: on a synchronous socket a Send larger than
// the record's 64 KiB buffer goes out in steps, whole, while the peer
// reads; on a pipe Writev gathers and Readv scatters through the buffer.
func TestSynchronousStreamSteps(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "synchronous handles")
		a, b := blockingSocketpair(t)
		data := pattern(200<<10, 7)
		var sent opResult
		var sc Completion
		Send(l, &sc, a, data, &sent, (*opResult).onCount)
		got := make([]byte, 0, len(data))
		buf := make([]byte, 64<<10)
		for len(got) < len(data) && sent.calls == 0 {
			if err := l.RunFor(time.Millisecond); err != nil {
				t.Fatal(err)
			}
			for {
				n, err := rawReadNonblocking(b, buf)
				if err != nil || n == 0 {
					break
				}
				got = append(got, buf[:n]...)
			}
		}
		await(t, l, &sent)
		wantN(t, "Send of 200 KiB on a synchronous socket", &sent, len(data))
		for len(got) < len(data) {
			n, err := rawReadNonblocking(b, buf)
			if err == syscall.EAGAIN {
				time.Sleep(time.Millisecond)
				continue
			}
			if err != nil || n == 0 {
				t.Fatalf("peer read after %d of %d bytes: n=%d err=%v", len(got), len(data), n, err)
			}
			got = append(got, buf[:n]...)
		}
		if string(got) != string(data) {
			t.Fatal("the peer received other bytes than were sent")
		}

		r, w := blockingPipe(t)
		var wr, rd opResult
		var wc, rc Completion
		Writev(l, &wc, w, [][]byte{[]byte("ab"), nil, []byte("cdef")}, -1, &wr, (*opResult).onCount)
		await(t, l, &wr)
		wantN(t, "Writev on a pipe", &wr, 6)
		x, y := make([]byte, 1), make([]byte, 10)
		Readv(l, &rc, r, [][]byte{x, y}, -1, &rd, (*opResult).onCount)
		await(t, l, &rd)
		wantN(t, "Readv on a pipe", &rd, 6)
		if string(x)+string(y[:5]) != "abcdef" {
			t.Fatalf("Readv on a pipe: %q %q, want \"a\" \"bcdef\"", x, y[:5])
		}
		rd = opResult{}
		Read(l, &rc, r, nil, -1, &rd, (*opResult).onCount)
		await(t, l, &rd)
		wantN(t, "Read of nothing from an empty pipe", &rd, 0)
	})
}
