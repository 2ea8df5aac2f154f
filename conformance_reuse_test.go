package ioloop

import (
	"testing"
	"time"
)

// Descriptors closed while the loop knew them: behind its back, or by its
// own Close with operations waiting (moved from whitebox_readiness_test.go,
// as they hold for every backend; on Windows they run on iocp with
// loopback TCP pairs, testFDs.socketPair).

// A descriptor the program closes behind the loop's back, whose number the
// kernel hands out again, must work with the loop: the poller's record of
// the old file is stale and must be repaired, not trusted.
func TestDescriptorReusedBehindTheLoop(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for round := range 3 {
			fds := newTestFDs(t, l)
			a, b := fds.socketPair()
			buf := make([]byte, 8)
			var r opResult
			var c Completion
			Recv(l, &c, b, buf, &r, (*opResult).onCount)
			stillPending(t, l, time.Millisecond, "Recv", &r)
			writeAll(t, l, a, []byte("one"))
			await(t, l, &r)
			wantN(t, "Recv", &r, 3)
			// Leave a one-shot interest armed, then close both ends
			// without the loop; the next pair likely reuses the numbers.
			var r2 opResult
			var c2 Completion
			Recv(l, &c2, b, buf, &r2, (*opResult).onCount)
			stillPending(t, l, time.Millisecond, "Recv", &r2)
			var cr opResult
			var cc Completion
			Cancel(l, &cc, &c2, &cr, (*opResult).onErr)
			await(t, l, &cr, &r2)
			fds.close(a)
			fds.close(b)
			_ = round
		}
	})
}

// Operations waiting on a descriptor the loop closes: on io_uring (where
// they hold their own reference to the file) and the simulator they stay
// in flight until canceled; on the readiness backends and IOCP (where
// readinessBackendKind is BackendIOCP, and closesocket aborts them) the
// Close cancels them. Either way the descriptor's number, free again, does not wake them.
func TestCloseLeavesWaitersInFlight(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		fds := newTestFDs(t, l)
		_, b := fds.socketPair()
		delete(fds.open, b) // the loop closes it
		c, r, _ := recvThenClose(t, l, b, make([]byte, 8))
		readiness := l.Backend() == readinessBackendKind
		if readiness { // canceled by the Close (ops.go, Close)
			wantErr(t, "Recv on the closed descriptor", r, ErrCanceled)
		}
		// The number comes back for a new socket with data waiting.
		x, y := fds.socketPair()
		writeAll(t, l, x, []byte("new"))
		if !readiness {
			stillPending(t, l, 20*time.Millisecond, "Recv on the closed descriptor", r)
			var cr opResult
			var cc Completion
			Cancel(l, &cc, c, &cr, (*opResult).onErr)
			await(t, l, &cr, r)
			wantOK(t, "Cancel", &cr)
			wantErr(t, "orphaned Recv", r, ErrCanceled)
		}
		got := readAllNonblocking(t, l, y, 3)
		if string(got) != "new" {
			t.Fatalf("new socket's data %q was consumed by the old Recv", got)
		}
	})
}
