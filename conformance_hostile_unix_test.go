//go:build !windows

package ioloop

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The hostile-descriptor cases (conformance_hostile_test.go) that need
// Unix mechanisms: blocking descriptors, pipes, SIGPIPE.

// offsetTestPipe returns a blocking pipe for TestOffsetRules, on the
// kernel backends (the simulator has no pipes).
func offsetTestPipe(t *testing.T, l *Loop) (r, w int, ok bool) {
	if simOf(l) != nil {
		return -1, -1, false
	}
	r, w = blockingPipe(t)
	return r, w, true
}

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
