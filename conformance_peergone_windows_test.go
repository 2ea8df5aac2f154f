package ioloop

import (
	"syscall"
	"testing"
	"time"
)

// TestWriteToSocketWithPeerGone is Windows' form of the Unix test of the
// same name (conformance_hostile_unix_test.go): Write and Writev (not
// Send) to a socket whose peer has gone fail with the peer's end of the
// connection, and nothing else happens to the process. Windows has no
// socketpair and no SIGPIPE, so the socket is a loopback TCP connection
// whose server end is closed outside the loop, and there is no signal to
// check. A TCP peer that closed answers the next segment with a reset, so
// the first writes after the close may still succeed (the kernel took
// the bytes, as a TCP socket on Linux does); once the reset is back,
// Windows fails the write with WSAECONNRESET, which the errno mapping
// delivers as ECONNRESET, where a Unix socketpair says EPIPE at once
// (docs/ARCHITECTURE.md, "Windows").
func TestWriteToSocketWithPeerGone(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "a loopback TCP connection closed outside the loop")
		client, server := tcpPairTracked(t, l, loopback4)
		server.close(t)
		for _, op := range []string{"Write", "Writev"} {
			var r opResult
			deadline := time.Now().Add(waitLimit)
			for accepted := 0; ; accepted++ {
				r = opResult{}
				var c Completion
				if op == "Write" {
					Write(l, &c, client.fd, []byte("gone"), -1, &r, (*opResult).onCount)
				} else {
					Writev(l, &c, client.fd, [][]byte{[]byte("gone")}, -1, &r, (*opResult).onCount)
				}
				await(t, l, &r)
				if r.err != nil {
					break
				}
				if r.n != 4 {
					t.Fatalf("%s %d to a socket whose peer closed: n=%d, want 4 or an error", op, accepted+1, r.n)
				}
				// Only the writes before the reset came back may succeed.
				if op == "Writev" || time.Now().After(deadline) {
					t.Fatalf("%s to a socket whose peer closed: %d writes accepted, want ECONNRESET once the reset is back", op, accepted+1)
				}
				time.Sleep(10 * time.Millisecond)
			}
			wantErr(t, op+" to a socket whose peer closed", &r, syscall.ECONNRESET)
			if r.n != 0 {
				t.Fatalf("%s to a socket whose peer closed: n=%d with the error, want 0", op, r.n)
			}
		}
	})
}
