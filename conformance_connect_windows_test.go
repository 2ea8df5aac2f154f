package ioloop

import (
	"errors"
	"testing"
)

// TestWindowsCancelSecondConnect: of two Connects of one socket submitted
// in one pass, the second waits for the first (ConnectEx refuses it:
// backend_iocp_connect_windows.go). A Cancel in the same pass ends it with
// ErrCanceled and answers nil, and the first connects. (On Linux the
// loopback handshake may finish before the Cancel: no shared test.)
func TestWindowsCancelSecondConnect(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		lfd, bound := listenTCP(t, l, loopback4)
		fd := tcpSocket(t, l, bound)
		var second, cancel opResult
		var c2, cc Completion
		acceptConnected(t, l, lfd, "first Connect", func(c *Completion, r *opResult) {
			Connect(l, c, fd, bound, r, (*opResult).onErr)
			Connect(l, &c2, fd, bound, &second, (*opResult).onErr)
			Cancel(l, &cc, &c2, &cancel, (*opResult).onErr)
		})
		await(t, l, &second, &cancel)
		wantErr(t, "the canceled second Connect", &second, ErrCanceled)
		wantOK(t, "Cancel of the second Connect", &cancel)
	})
}

// TestWindowsCloseEndsSecondConnect: Close of the loop gives a second
// Connect waiting for the first exactly one callback: the first's result
// or ErrCanceled.
func TestWindowsCloseEndsSecondConnect(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		lfd, bound := listenTCP(t, l, loopback4)
		_ = lfd // nobody accepts: the handshake completes in the backlog, or not
		fd := tcpSocket(t, l, bound)
		var first, second opResult
		var c1, c2 Completion
		Connect(l, &c1, fd, bound, &first, (*opResult).onErr)
		Connect(l, &c2, fd, bound, &second, (*opResult).onErr)
		l.backend.flush() // start both (the second waits), reap nothing
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if second.calls != 1 || first.calls != 1 {
			t.Fatalf("Connects: %d and %d callbacks, want one each", first.calls, second.calls)
		}
		if second.err != nil && !errors.Is(second.err, ErrCanceled) {
			t.Fatalf("second Connect: %v, want nil or ErrCanceled", second.err)
		}
	})
}
