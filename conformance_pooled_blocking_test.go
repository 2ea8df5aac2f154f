package ioloop

import (
	"testing"
	"time"
)

// TestRecvMultishotOnBlockingSocket: a RecvMultishot on a socket in
// blocking mode (O_NONBLOCK clear; on Windows FIONBIO off, which leaves
// the overlapped calls alone) never blocks the loop (a Timeout fires while
// it waits), and still receives.
func TestRecvMultishotOnBlockingSocket(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "a blocking descriptor")
		pool := newTestPool(t, l, 2, 64)
		client, server := tcpPairTracked(t, l, loopback4)
		setBlockingMode(t, server.fd)
		log := &shotLog{pool: pool, moreOK: true}
		var c Completion
		RecvMultishot(l, &c, server.fd, pool, log, (*shotLog).onRecv)
		var timer opResult
		var tc Completion
		Timeout(l, &tc, 5*time.Millisecond, &timer, (*opResult).onErr)
		runUntil(t, l, waitLimit, timer.done)
		if log.shots != 0 || log.ended != 0 {
			t.Fatalf("before any data: %d shots, %d finals", log.shots, log.ended)
		}
		sendAll(t, l, client.fd, []byte("blocking"))
		runUntil(t, l, waitLimit, func() bool { return len(log.data) == 8 })
		cancelUntil(t, l, &c, func() bool { return log.ended > 0 })
		if string(log.data) != "blocking" || log.ended != 1 || !log.moreOK {
			t.Fatalf("got %q, %d finals, More right %v", log.data, log.ended, log.moreOK)
		}
	})
}
