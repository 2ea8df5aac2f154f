//go:build !windows && linux

package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// TestPlaintextAllocs measures allocations per GET /plaintext through the
// whole server (connection layer, parser, router, writer) in steady state,
// on each backend: one request per round trip, and 16 pipelined. The
// client is a raw non-blocking socket driven on the test's goroutine,
// which also runs the loop, so testing.AllocsPerRun counts the server's
// allocations and nothing else's.
func TestPlaintextAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, b := range testBackends(t) {
		for _, pool := range []int{0, 8} {
			name := b.String()
			if pool > 0 {
				name += "-pool"
			}
			t.Run(name, func(t *testing.T) { testPlaintextAllocs(t, b, pool) })
		}
	}
}

// testPlaintextAllocs is TestPlaintextAllocs on backend b, receiving
// through a pool of poolBuffers buffers (0: a buffer per connection).
func testPlaintextAllocs(t *testing.T, b ioloop.Backend, poolBuffers int) {
	a, err := start(config{addr: "127.0.0.1:0", backend: b, lim: clientLimits, idleTimeout: time.Minute, readTimeout: 10 * time.Second, poolBuffers: poolBuffers})
	if err != nil {
		t.Fatal(err)
	}
	defer a.loop.Close()
	fd := dialNonblocking(t, a.ln.AddrPort())
	defer unix.Close(fd)
	buf := make([]byte, 64<<10)
	// readUntil runs the loop and reads until want bytes arrived, or
	// (want 0) until a response has ended: its length.
	readUntil := func(want int) int {
		got := 0
		for deadline := time.Now().Add(5 * time.Second); ; {
			if err := a.loop.Tick(); err != nil {
				t.Fatal(err)
			}
			n, err := unix.Read(fd, buf[got:])
			if n > 0 {
				got += n
			}
			if err != nil && err != unix.EAGAIN {
				t.Fatalf("read: %v", err)
			}
			if want > 0 && got >= want || want == 0 && bytes.HasSuffix(buf[:got], []byte("Hello, World!")) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d bytes of responses after 5 s, want %d", got, want)
			}
		}
	}
	const get = "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n"
	unix.Write(fd, []byte(get))
	respLen := readUntil(0) // every response has this length: the Date's is fixed
	for _, pipelined := range []int{1, 16} {
		req := []byte(strings.Repeat(get, pipelined))
		round := func() {
			if n, err := unix.Write(fd, req); n != len(req) || err != nil {
				t.Fatalf("write: %d, %v", n, err)
			}
			if got := readUntil(pipelined * respLen); got != pipelined*respLen {
				t.Fatalf("%d bytes, want %d", got, pipelined*respLen)
			}
		}
		for range 200 {
			round() // warm up: buffers grow, the Date is formatted
		}
		allocs := testing.AllocsPerRun(2000, round)
		t.Logf("%s (pool %d), %d pipelined: %.3f allocations per round, %.4f per request", b, poolBuffers, pipelined, allocs, allocs/float64(pipelined))
		if allocs != 0 {
			t.Fatalf("%.3f allocations per round of %d requests", allocs, pipelined)
		}
	}
}

// TestOneSendPerRead: the responses to requests that arrive in one read
// leave in one send (the loop's own count of Send and SendMsg operations
// against its completed receives), not one per response.
func TestOneSendPerRead(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.String(), func(t *testing.T) {
			a, err := start(config{addr: "127.0.0.1:0", backend: b, lim: clientLimits})
			if err != nil {
				t.Fatal(err)
			}
			defer a.loop.Close()
			fd := dialNonblocking(t, a.ln.AddrPort())
			defer unix.Close(fd)
			const get = "GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n"
			const pipelined, rounds = 16, 100
			req := []byte(strings.Repeat(get, pipelined))
			buf := make([]byte, 64<<10)
			sends := func() uint64 {
				st := a.loop.Stats()
				return st.Op("Send").Submitted + st.Op("SendMsg").Submitted
			}
			recvs := func() uint64 {
				st := a.loop.Stats()
				return st.Op("Recv").Completed
			}
			var sends0, recvs0 uint64
			for round := range rounds + 1 {
				if round == 1 {
					sends0, recvs0 = sends(), recvs() // the first round accepted the connection
				}
				if n, err := unix.Write(fd, req); n != len(req) || err != nil {
					t.Fatalf("write: %d, %v", n, err)
				}
				got := 0
				for deadline := time.Now().Add(5 * time.Second); bytes.Count(buf[:got], []byte("Hello, World!")) < pipelined; {
					if err := a.loop.Tick(); err != nil {
						t.Fatal(err)
					}
					if n, _ := unix.Read(fd, buf[got:]); n > 0 {
						got += n
					}
					if time.Now().After(deadline) {
						t.Fatalf("round %d: %d bytes of responses after 5 s", round, got)
					}
				}
			}
			s, r := sends()-sends0, recvs()-recvs0
			t.Logf("%d rounds of %d pipelined requests: %d sends, %d receives", rounds, pipelined, s, r)
			if s > r || s > 2*rounds {
				t.Fatalf("%d sends for %d receives of %d rounds of %d requests", s, r, rounds, pipelined)
			}
		})
	}
}

func dialNonblocking(t *testing.T, addr netip.AddrPort) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	sa := &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	if err := unix.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	return fd
}
