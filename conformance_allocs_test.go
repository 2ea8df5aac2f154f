//go:build linux || windows

// The loop's promise of no allocation per operation holds on Linux and on
// Windows (IOCP); the kqueue backend goes through x/sys wrappers that
// allocate for some calls (backend_readiness_sys_bsd.go), so these tests
// run on those two only. What differs by system is in
// conformance_allocs_linux_test.go and conformance_allocs_windows_test.go:
// the peer's plain system calls (peerSend, peerRecv) and the Linux-only
// operations.

package ioloop

import (
	"errors"
	"io"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Zero allocations per operation in steady state: each test submits one
// operation (or a pair) per run and drives the loop until its callbacks
// ran, using the documented allocation-free shape (a method expression as
// the callback and a pointer ctx), after a warm-up that lets the loop's
// in-flight table and the Completions' reusable storage grow once.

// allocState is the ctx of every measured operation. Its callbacks count
// completions and keep the first unexpected error.
type allocState struct {
	loop      *Loop
	c, c2     Completion
	got, want int
	n         int
	err       error // first unexpected error
	canceled  int   // ErrCanceled results (expected by the Cancel test)
	timedOut  bool
}

func (s *allocState) note(n int, err error) {
	s.got++
	s.n = n
	if err == ErrCanceled {
		s.canceled++
		return
	}
	if err != nil && s.err == nil {
		s.err = err
	}
}

func (s *allocState) onCount(_ *Completion, n int, err error) { s.note(n, err) }
func (s *allocState) onErr(_ *Completion, err error)          { s.note(0, err) }

// wait drives the loop with non-blocking passes until want callbacks
// (counting from the last wait) have run. It allocates nothing.
func (s *allocState) wait(want int) {
	s.want += want
	deadline := time.Now().Add(waitLimit)
	for i := 0; s.got < s.want; i++ {
		if err := s.loop.Tick(); err != nil && s.err == nil {
			s.err = err
		}
		if i%1024 == 1023 && time.Now().After(deadline) {
			s.timedOut = true
			return
		}
	}
}

// wantNoAllocs warms run up, then fails unless it allocates nothing.
func wantNoAllocs(t *testing.T, s *allocState, runs int, run func()) {
	t.Helper()
	for i := 0; i < 16; i++ {
		run()
	}
	allocs := testing.AllocsPerRun(runs, run)
	if s.timedOut {
		t.Fatalf("timed out waiting for callbacks (%d of %d ran)", s.got, s.want)
	}
	if s.err != nil {
		t.Fatalf("unexpected error from a measured operation: %v", s.err)
	}
	if s.got != s.want {
		t.Fatalf("%d callbacks ran, want %d", s.got, s.want)
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per operation in steady state, want 0", allocs)
	}
}

func TestAllocsNop(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		s := &allocState{loop: l}
		wantNoAllocs(t, s, 1000, func() {
			Nop(l, &s.c, s, (*allocState).onErr)
			s.wait(1)
		})
	})
}

func TestAllocsNextTick(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		s := &allocState{loop: l}
		wantNoAllocs(t, s, 1000, func() {
			NextTick(l, &s.c, s, (*allocState).onErr)
			s.wait(1)
		})
	})
}

func TestAllocsTimeout(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		s := &allocState{loop: l}
		wantNoAllocs(t, s, 200, func() {
			Timeout(l, &s.c, time.Microsecond, s, (*allocState).onErr)
			s.wait(1)
		})
	})
}

func TestAllocsRecv(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		s := &allocState{loop: l}
		out := []byte("r")
		in := make([]byte, 16)
		wantNoAllocs(t, s, 500, func() {
			if simOf(l) != nil { // the simulated peer writes through the loop
				Send(l, &s.c2, client, out, s, (*allocState).onCount)
				Recv(l, &s.c, server, in, s, (*allocState).onCount)
				s.wait(2)
				return
			}
			if _, err := peerSend(client, out); err != nil && s.err == nil {
				s.err = err
			}
			Recv(l, &s.c, server, in, s, (*allocState).onCount)
			s.wait(1)
		})
	})
}

func TestAllocsSend(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		s := &allocState{loop: l}
		out := pattern(64, 1)
		in := make([]byte, 64)
		wantNoAllocs(t, s, 500, func() {
			Send(l, &s.c, client, out, s, (*allocState).onCount)
			if simOf(l) != nil { // the simulated peer reads through the loop
				Recv(l, &s.c2, server, in, s, (*allocState).onCount)
				s.wait(2)
				if s.n != len(in) && s.err == nil {
					s.err = io.ErrShortWrite
				}
				return
			}
			s.wait(1)
			// Drain what was sent with plain syscalls.
			for drained := 0; drained < len(out); {
				n, err := peerRecv(server, in)
				if err == syscall.EAGAIN {
					continue
				}
				if err != nil || n == 0 {
					if s.err == nil {
						s.err = err
					}
					return
				}
				drained += n
			}
		})
	})
}

func TestAllocsReadWrite(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		_, fd := tempFile(t, l, pattern(4096, 2))
		buf := make([]byte, 512)
		t.Run("Read", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				Read(l, &s.c, fd, buf, 512, s, (*allocState).onCount)
				s.wait(1)
			})
		})
		t.Run("Write", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				Write(l, &s.c, fd, buf, 1024, s, (*allocState).onCount)
				s.wait(1)
			})
		})
		bufs := [][]byte{make([]byte, 100), make([]byte, 200), make([]byte, 300)}
		t.Run("Readv", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				Readv(l, &s.c, fd, bufs, 0, s, (*allocState).onCount)
				s.wait(1)
			})
		})
		t.Run("Writev", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				Writev(l, &s.c, fd, bufs, 2048, s, (*allocState).onCount)
				s.wait(1)
			})
		})
	})
}

func TestAllocsFsync(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		_, fd := tempFile(t, l, []byte("sync me"))
		t.Run("Fsync", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 50, func() {
				Fsync(l, &s.c, fd, s, (*allocState).onErr)
				s.wait(1)
			})
		})
		t.Run("Fdatasync", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 50, func() {
				Fdatasync(l, &s.c, fd, s, (*allocState).onErr)
				s.wait(1)
			})
		})
	})
}

func TestAllocsOpenAtClose(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, _ := tempFile(t, l, []byte("open me"))
		s := &allocState{loop: l}
		wantNoAllocs(t, s, 200, func() {
			OpenAt(l, &s.c, sysAT_FDCWD, path, sysO_RDONLY, 0, s, (*allocState).onCount)
			s.wait(1)
			if s.err != nil {
				return
			}
			Close(l, &s.c2, s.n, s, (*allocState).onErr)
			s.wait(1)
		})
	})
}

func TestAllocsAcceptConnect(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "sockets that are kernel objects: a simulated connection is Go memory, allocated per connection")
		lfd, bound := listenTCP(t, l, loopback4)
		s := &allocState{loop: l}
		connector := &allocState{loop: l}
		wantNoAllocs(t, s, 100, func() {
			connectCycle(s, connector, bound, func() { Accept(l, &s.c, lfd, s, (*allocState).onCount) })
		})
		connector.wantAllRan(t, "Connect")
	})
}

// TestAllocsAcceptMultishot: each shot of one AcceptMultishot, with the
// Connect it accepts.
func TestAllocsAcceptMultishot(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "sockets that are kernel objects: a simulated connection is Go memory, allocated per connection")
		lfd, bound := listenTCP(t, l, loopback4)
		s := &allocState{loop: l}
		connector := &allocState{loop: l}
		AcceptMultishot(l, &s.c, lfd, s, (*allocState).onCount)
		wantNoAllocs(t, s, 100, func() { connectCycle(s, connector, bound, nil) })
		connector.wantAllRan(t, "Connect")
		cancelUntil(t, l, &s.c, func() bool { return !s.c.Pending() })
	})
}

// connectCycle connects a new socket to the listener at bound, with
// accept submitting the Accept (nil: one is pending already), waits for
// both, and closes both sockets outside the loop, as a program may: the
// package made them, so on Windows a loop that meets their handle values
// again knows they are new handles (handles_windows.go).
func connectCycle(s, connector *allocState, bound netip.AddrPort, accept func()) {
	fd, err := s.loop.TCPSocket(bound)
	if err != nil {
		s.err = err
		return
	}
	if accept != nil {
		accept()
	}
	Connect(s.loop, &connector.c, fd, bound, connector, (*allocState).onErr)
	s.wait(1)
	connector.wait(1)
	sysCloseFD(fd)
	if s.err == nil {
		sysCloseFD(s.n)
	}
}

// wantAllRan fails unless every callback s waited for ran, without error.
func (s *allocState) wantAllRan(t *testing.T, what string) {
	t.Helper()
	if s.err != nil || s.timedOut || s.got != s.want {
		t.Fatalf("%s: %d of %d callbacks, err %v", what, s.got, s.want, s.err)
	}
}

// TestAllocsSocketVectors: a Recv waiting for its Send; Read, Write, Readv
// and Writev on a connected TCP socket (on IOCP, WSARecv and WSASend with
// the buffer list); and Shutdown, both ends through the loop. Each run
// reads all it wrote, however the kernel splits it.
func TestAllocsSocketVectors(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		out := pattern(300, 3)
		outs := [][]byte{out[:100], out[100:]}
		in := make([]byte, 300)
		ins := [][]byte{in[:50], in[50:]}
		t.Run("Recv before Send", func(t *testing.T) {
			// The Recv waits in the kernel when the Send comes (on IOCP,
			// its result arrives as a packet; the Recv of TestAllocsRecv
			// finds its data and completes inline).
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				Recv(l, &s.c2, server, in[:64], s, (*allocState).onCount)
				Send(l, &s.c, client, out[:64], s, (*allocState).onCount)
				s.wait(2)
			})
		})
		t.Run("Write+Read", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				Write(l, &s.c, client, out, 0, s, (*allocState).onCount)
				s.wait(1)
				for got := 0; got < len(out) && s.err == nil && !s.timedOut; got += s.n {
					Read(l, &s.c2, server, in[got:], -1, s, (*allocState).onCount)
					s.wait(1)
				}
			})
		})
		t.Run("Writev+Readv", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				Writev(l, &s.c, client, outs, 0, s, (*allocState).onCount)
				s.wait(1)
				for got := 0; got < len(out) && s.err == nil && !s.timedOut; got += s.n {
					Readv(l, &s.c2, server, ins, 0, s, (*allocState).onCount)
					s.wait(1)
				}
			})
		})
		t.Run("Shutdown", func(t *testing.T) {
			// SHUT_RD of a socket may be repeated: the measured cycle
			// changes nothing after the first.
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				Shutdown(l, &s.c, server, sysSHUT_RD, s, (*allocState).onErr)
				s.wait(1)
			})
		})
	})
}

// TestAllocsDatagrams: SendTo with RecvFrom, and SendMsg with RecvMsg
// (no control data), between two UDP sockets of the loop.
func TestAllocsDatagrams(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		server, serverAddr := listenUDP(t, l, loopback4)
		client, _ := listenUDP(t, l, loopback4)
		out := pattern(64, 5)
		outs := [][]byte{out[:10], out[10:]}
		in := make([]byte, 128)
		ins := [][]byte{in[:32], in[32:]}
		t.Run("SendTo+RecvFrom", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				RecvFrom(l, &s.c2, server, in, s, (*allocState).onFrom)
				SendTo(l, &s.c, client, out, serverAddr, s, (*allocState).onCount)
				s.wait(2)
			})
		})
		t.Run("SendMsg+RecvMsg", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				RecvMsg(l, &s.c2, server, ins, nil, s, (*allocState).onMsg)
				SendMsg(l, &s.c, client, outs, nil, serverAddr, s, (*allocState).onCount)
				s.wait(2)
			})
		})
	})
}

func (s *allocState) onFrom(_ *Completion, n int, from netip.AddrPort, err error) {
	if err == nil && !from.IsValid() && s.err == nil {
		s.err = errors.New("a datagram without its sender")
	}
	s.note(n, err)
}

func (s *allocState) onMsg(_ *Completion, n, _, _ int, from netip.AddrPort, err error) {
	s.onFrom(nil, n, from, err)
}

func TestAllocsCancel(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		_, server := tcpPair(t, l, loopback4)
		s := &allocState{loop: l}
		buf := make([]byte, 16)
		wantNoAllocs(t, s, 500, func() {
			Recv(l, &s.c, server, buf, s, (*allocState).onCount)
			if err := l.Tick(); err != nil && s.err == nil { // the Recv reaches the kernel
				s.err = err
			}
			Cancel(l, &s.c2, &s.c, s, (*allocState).onErr)
			s.wait(2)
		})
		if s.canceled != s.got/2 {
			t.Fatalf("%d of %d Recvs were canceled", s.canceled, s.got/2)
		}
	})
}

// Zero allocations for the cross-goroutine API: Event.Trigger with the
// WaitEvent it completes, Post and the function it runs, and Message, both
// on one goroutine (every backend) and into a loop blocked in the kernel
// (the wakeup paths: eventfd writes, parking, MSG_RING doorbells).

func (s *allocState) onPost() { s.note(0, nil) }

func TestAllocsEventTrigger(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		s := &allocState{loop: l}
		e := NewEvent(l)
		wantNoAllocs(t, s, 1000, func() {
			WaitEvent(l, &s.c, e, s, (*allocState).onCount)
			e.Trigger()
			s.wait(1)
			if s.n != 1 && s.err == nil {
				s.err = io.ErrUnexpectedEOF // a trigger counted wrong
			}
		})
	})
}

func TestAllocsPost(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		s := &allocState{loop: l}
		wantNoAllocs(t, s, 1000, func() {
			if err := Post(l, s, (*allocState).onPost); err != nil && s.err == nil {
				s.err = err
			}
			s.wait(1)
		})
	})
}

func TestAllocsMessageSelf(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		s := &allocState{loop: l}
		wantNoAllocs(t, s, 1000, func() {
			if err := Message(l, l, s, (*allocState).onPost); err != nil && s.err == nil {
				s.err = err
			}
			s.wait(1)
		})
	})
}

// remoteAllocState drives its loop with blocking RunFors that its
// callbacks end (Stop), so that every wakeup is a real one.
type remoteAllocState struct {
	allocState
	peer *Loop // the other loop of a Message round trip
}

func (s *remoteAllocState) onEvent(_ *Completion, n int, err error) {
	s.note(n, err)
	s.loop.Stop()
}

func (s *remoteAllocState) onPost() {
	s.note(0, nil)
	s.loop.Stop()
}

// onPing runs on the peer, which answers from inside its callback.
func (s *remoteAllocState) onPing() {
	if err := Message(s.peer, s.loop, s, (*remoteAllocState).onPost); err != nil {
		panic(err)
	}
}

// waitBlocking blocks in RunFor until want more callbacks have run.
func (s *remoteAllocState) waitBlocking(want int) {
	s.want += want
	deadline := time.Now().Add(waitLimit)
	for s.got < s.want {
		if err := s.loop.RunFor(waitLimit); err != nil && s.err == nil {
			s.err = err
		}
		if time.Now().After(deadline) {
			s.timedOut = true
			return
		}
	}
}

// serve runs fn on a new goroutine for each value sent on the returned
// channel, until the test ends.
func serve(t *testing.T, fn func()) chan<- struct{} {
	requests := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range requests {
			fn()
		}
	}()
	t.Cleanup(func() {
		close(requests)
		<-done
	})
	return requests
}

// driveInBackground runs l in blocking RunFors on its own goroutine until
// the test ends.
func driveInBackground(t *testing.T, l *Loop) {
	var quit atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !quit.Load() {
			if err := l.RunFor(time.Second); err != nil {
				t.Errorf("RunFor: %v", err)
				return
			}
		}
	}()
	t.Cleanup(func() {
		quit.Store(true)
		l.Stop()
		<-done
	})
}

func TestAllocsRemoteWakeups(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "another goroutine wakes a loop blocked in the kernel")
		t.Run("Trigger", func(t *testing.T) {
			s := &remoteAllocState{allocState: allocState{loop: l}}
			e := NewEvent(l)
			trigger := serve(t, e.Trigger)
			wantNoAllocs(t, &s.allocState, 300, func() {
				WaitEvent(l, &s.c, e, s, (*remoteAllocState).onEvent)
				trigger <- struct{}{}
				s.waitBlocking(1)
			})
		})
		t.Run("Post", func(t *testing.T) {
			s := &remoteAllocState{allocState: allocState{loop: l}}
			post := serve(t, func() {
				if err := Post(l, s, (*remoteAllocState).onPost); err != nil {
					panic(err)
				}
			})
			wantNoAllocs(t, &s.allocState, 300, func() {
				post <- struct{}{}
				s.waitBlocking(1)
			})
		})
		t.Run("Message", func(t *testing.T) {
			peer := newTestLoop(t, Options{Backend: l.Backend()})
			driveInBackground(t, peer)
			s := &remoteAllocState{allocState: allocState{loop: l}, peer: peer}
			wantNoAllocs(t, &s.allocState, 300, func() {
				// Outside a callback, into a blocked peer, whose
				// callback answers into this blocked loop.
				if err := Message(l, peer, s, (*remoteAllocState).onPing); err != nil && s.err == nil {
					s.err = err
				}
				s.waitBlocking(1)
			})
			wantDoorbellRung(t, l, peer)
		})
	})
}

// allocCase is one measured cycle of a table of cases: op submits and
// waits for its operations, runs times.
type allocCase struct {
	name string
	runs int
	op   func(s *allocState)
}

// TestAllocsFileops: the file-system operations and durable writes, each
// in a cycle that leaves the file system as it found it, on every backend
// and, on Linux, on io_uring's worker fallback (every optional opcode
// missing; fileWorkersFallbackLoop). The Linux-only operations are added
// by fileopsAllocCasesOS.
func TestAllocsFileops(t *testing.T) {
	body := func(t *testing.T, l *Loop) {
		dir := tempDir(t, l)
		path, fd := tempFile(t, l, pattern(8192, 4))
		other, sub := joinPath(l, dir, "other"), joinPath(l, dir, "sub")
		// Linkat links a file no handle holds open: Windows keeps the
		// name of an open file's deleted link until the file's last
		// handle closes (without POSIX deletion semantics, which wine
		// lacks), so the next Linkat of the name would be EEXIST.
		closed := joinPath(l, dir, "closed")
		putFile(t, l, closed, []byte("linked"))
		buf := make([]byte, 512)
		bufs := [][]byte{buf[:100], buf[100:300]}
		// The rename back refuses to replace, where the backend has
		// renameat2(2)'s flags; IOCP refuses them (EINVAL).
		var noReplace uint32 = RenameNoReplace
		if l.Backend() == BackendIOCP {
			noReplace = 0
		}
		cases := []allocCase{
			{"Fallocate", 200, func(s *allocState) { Fallocate(l, &s.c, fd, 0, 0, 8192, s, (*allocState).onErr); s.wait(1) }},
			{"Ftruncate", 200, func(s *allocState) { Ftruncate(l, &s.c, fd, 8192, s, (*allocState).onErr); s.wait(1) }},
			{"Fadvise", 500, func(s *allocState) {
				Fadvise(l, &s.c, fd, 0, 0, fadviseSequential, s, (*allocState).onErr)
				s.wait(1)
			}},
			{"Renameat", 200, func(s *allocState) {
				Renameat(l, &s.c, sysAT_FDCWD, path, sysAT_FDCWD, other, 0, s, (*allocState).onErr)
				s.wait(1)
				Renameat(l, &s.c, sysAT_FDCWD, other, sysAT_FDCWD, path, noReplace, s, (*allocState).onErr)
				s.wait(1)
			}},
			{"LinkatUnlinkat", 200, func(s *allocState) {
				Linkat(l, &s.c, sysAT_FDCWD, closed, sysAT_FDCWD, other, 0, s, (*allocState).onErr)
				s.wait(1)
				Unlinkat(l, &s.c, sysAT_FDCWD, other, 0, s, (*allocState).onErr)
				s.wait(1)
			}},
			{"SymlinkatUnlinkat", 200, func(s *allocState) {
				Symlinkat(l, &s.c, path, sysAT_FDCWD, other, s, (*allocState).onErr)
				s.wait(1)
				Unlinkat(l, &s.c, sysAT_FDCWD, other, 0, s, (*allocState).onErr)
				s.wait(1)
			}},
			{"MkdiratUnlinkat", 200, func(s *allocState) {
				Mkdirat(l, &s.c, sysAT_FDCWD, sub, 0o755, s, (*allocState).onErr)
				s.wait(1)
				Unlinkat(l, &s.c, sysAT_FDCWD, sub, sysAT_REMOVEDIR, s, (*allocState).onErr)
				s.wait(1)
			}},
			{"WriteDurable", 50, func(s *allocState) {
				WriteDurable(l, &s.c, fd, buf, 1024, DataSync, s, (*allocState).onCount)
				s.wait(1)
			}},
			{"WritevDurable", 50, func(s *allocState) {
				WritevDurable(l, &s.c, fd, bufs, -1, FileSync, s, (*allocState).onCount)
				s.wait(1)
			}},
		}
		cases = append(cases, fileopsAllocCasesOS(l, fd)...)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				skipUnsupportedOnIOCP(t, l, tc)
				s := &allocState{loop: l}
				wantNoAllocs(t, s, tc.runs, func() { tc.op(s) })
			})
		}
	}
	forEachBackend(t, Options{}, body)
	if fileWorkersFallbackLoop != nil {
		t.Run("io_uring-workers", func(t *testing.T) { body(t, fileWorkersFallbackLoop(t)) })
	}
}

// fileWorkersFallbackLoop creates an io_uring loop whose file-system
// opcodes all count as missing, so that its worker pool serves them
// (conformance_allocs_linux_test.go); nil where there is no io_uring.
var fileWorkersFallbackLoop func(t *testing.T) *Loop

// skipUnsupportedOnIOCP runs one cycle of tc on an IOCP loop first and
// skips the test if it fails with EOPNOTSUPP, the IOCP backend's answer
// for an operation it does not implement (docs/ARCHITECTURE.md,
// "Windows"): the case measures the operation as soon as the backend
// implements it. Any other error is left to the measurement to report.
func skipUnsupportedOnIOCP(t *testing.T, l *Loop, tc allocCase) {
	t.Helper()
	if l.Backend() != BackendIOCP {
		return
	}
	probe := &allocState{loop: l}
	tc.op(probe)
	if errors.Is(probe.err, syscall.EOPNOTSUPP) {
		t.Skipf("iocp: %s fails with EOPNOTSUPP (no IOCP implementation yet): %v", tc.name, probe.err)
	}
	if tc.name == "SymlinkatUnlinkat" && errors.Is(probe.err, syscall.ENOENT) {
		// TestFileopsSymlinkat skips likewise.
		t.Skipf("iocp: the link Symlinkat made is not there (%v): wine 8.0's CreateSymbolicLink reports success and makes nothing", probe.err)
	}
}
