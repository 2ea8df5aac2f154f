package ioloop

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// The hostile-descriptor cases of descriptors whose calls block: on Unix
// O_NONBLOCK clear (a socketpair, a pipe, a listener, as os.File.Fd()
// leaves them); on Windows handles opened for synchronous I/O (a socket
// from WSASocket without WSA_FLAG_OVERLAPPED, an anonymous pipe), which
// the port refuses and whose calls block their thread; Accept and Connect
// take overlapped sockets in blocking mode there (FIONBIO off), since
// they refuse synchronous ones (TestSynchronousSocketRefused). The
// per-OS helpers are in conformance_hostile_unix_test.go and
// conformance_hostile_windows_test.go.

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
			return func() { rescueWrite(b) }
		}},
		{"Send", func(t *testing.T, l *Loop, c *Completion, r *opResult) func() {
			a, b := blockingSocketpair(t)
			fillBlocking(t, a)
			Send(l, c, a, make([]byte, 64<<10), r, (*opResult).onCount)
			return func() { rescueShutdown(b) }
		}},
		{"Read on a socket", func(t *testing.T, l *Loop, c *Completion, r *opResult) func() {
			a, b := blockingSocketpair(t)
			Read(l, c, a, make([]byte, 16), -1, r, (*opResult).onCount)
			return func() { rescueWrite(b) }
		}},
		{"Write on a socket", func(t *testing.T, l *Loop, c *Completion, r *opResult) func() {
			a, b := blockingSocketpair(t)
			fillBlocking(t, a)
			Write(l, c, a, make([]byte, 64<<10), -1, r, (*opResult).onCount)
			return func() { rescueShutdown(b) }
		}},
		{"Accept", func(t *testing.T, l *Loop, c *Completion, r *opResult) func() {
			lfd := blockingListener(t, 8)
			addr, _ := LocalAddr(lfd)
			Accept(l, c, lfd, r, (*opResult).onCount)
			return func() {
				if conn, err := net.DialTimeout("tcp", addr.String(), hostileRescue); err == nil {
					conn.Close()
				}
			}
		}},
		{"Connect", func(t *testing.T, l *Loop, c *Completion, r *opResult) func() {
			lfd := fullBacklogListener(t)
			fd := unblockingSocket(t)
			addr, _ := LocalAddr(lfd)
			Connect(l, c, fd, addr, r, (*opResult).onErr)
			return func() { disownFD(lfd); sysCloseFD(lfd) } // the next SYN is refused
		}},
	}
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
					if tc.name == "Connect" && refusesFullBacklog && errors.Is(r.err, syscall.ECONNREFUSED) {
						t.Skip("the system refused the SYN of a full accept queue at once: nothing to wait for")
					}
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
					rescue = func() { rescueDrain(rfd) }
				} else {
					Read(l, &c, rfd, make([]byte, 8), -1, &r, (*opResult).onCount)
					rescue = func() { rescueWrite(wfd) }
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
