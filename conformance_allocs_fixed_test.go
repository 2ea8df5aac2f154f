//go:build linux || windows

package ioloop

import (
	"syscall"
	"testing"
)

// Zero allocations per operation for the opt-in operations, and for
// operations on a registered descriptor, on every backend (the pattern of
// conformance_allocs_test.go).

func TestAllocsFixed(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		_, fd := tempFile(t, l, pattern(8192, 50))
		region := make([]byte, 8192)
		if err := l.RegisterBuffers([][]byte{make([]byte, 4096), region}); err != nil {
			t.Fatal(err)
		}
		t.Run("ReadFixed", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				ReadFixed(l, &s.c, fd, region[512:1024], 512, s, (*allocState).onCount)
				s.wait(1)
			})
		})
		t.Run("WriteFixed", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				WriteFixed(l, &s.c, fd, region[:512], 1024, s, (*allocState).onCount)
				s.wait(1)
			})
		})
		if err := l.RegisterFile(fd); err != nil {
			t.Fatal(err)
		}
		t.Run("Read of a registered file", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				Read(l, &s.c, fd, region[:512], 512, s, (*allocState).onCount)
				s.wait(1)
			})
		})
		t.Run("ReadFixed of a registered file", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				ReadFixed(l, &s.c, fd, region[:512], 512, s, (*allocState).onCount)
				s.wait(1)
			})
		})
	})
}

func TestAllocsSendZCAndRegisteredSockets(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		out := pattern(64<<10, 51)
		in := make([]byte, 64<<10)
		// sendAndDrain sends out with SendZC and receives it: through the
		// loop on the simulator, and elsewhere with plain system calls
		// (peerRecv) while the loop runs, because on io_uring the callback
		// waits for the kernel's notification, which comes once the peer
		// has acknowledged the data.
		sendAndDrain := func(s *allocState) {
			SendZC(l, &s.c, client, out, s, (*allocState).onCount)
			if simOf(l) != nil {
				for got := 0; got < len(out) && s.err == nil && !s.timedOut; got += s.n {
					Recv(l, &s.c2, server, in, s, (*allocState).onCount)
					s.wait(1)
				}
				s.wait(1)
				return
			}
			s.want++
			for drained := 0; (drained < len(out) || s.got < s.want) && s.err == nil; {
				if err := l.Tick(); err != nil {
					s.err = err
				}
				n, err := peerRecv(server, in)
				switch {
				case err == syscall.EAGAIN:
				case err != nil || n == 0:
					s.err = err
				default:
					drained += n
				}
			}
		}
		run := func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 300, func() { sendAndDrain(s) })
		}
		t.Run("SendZC", run)
		for _, fd := range []int{client, server} {
			if err := l.RegisterFile(fd); err != nil {
				t.Fatal(err)
			}
		}
		t.Run("SendZC on a registered socket", run)
		t.Run("Send and Recv on registered sockets", func(t *testing.T) {
			s := &allocState{loop: l}
			msg := out[:64]
			wantNoAllocs(t, s, 500, func() {
				Send(l, &s.c, client, msg, s, (*allocState).onCount)
				Recv(l, &s.c2, server, in[:64], s, (*allocState).onCount)
				s.wait(2)
			})
		})
	})
}
