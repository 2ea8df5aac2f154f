package ioloop

import (
	"syscall"
	"testing"
	"time"
)

// Views of io_uring internals for tests that check the rings were really
// exercised. They are methods so that those tests compile on systems
// without io_uring, where whitebox_uring_other_test.go gives the tests a
// stand-in uringBackend that no loop ever has.

// uringOf returns the loop's io_uring backend, or nil on other backends;
// tests that inspect ring internals skip those checks when it is nil.
func uringOf(l *Loop) *uringBackend {
	b, _ := l.backend.(*uringBackend)
	return b
}

// canRingAny reports whether the kernel has IORING_OP_MSG_RING.
func (b *uringBackend) canRingAny() bool { return b.doorbells != nil }

func (b *uringBackend) overflowLen() int     { return b.overflow.size }
func (b *uringBackend) sqEntries() uint32    { return b.ring.SQEntries() }
func (b *uringBackend) cqEntries() uint32    { return b.ring.CQEntries() }
func (b *uringBackend) cqOverflowCount() int { return b.cqOverflows }

// publishSQ publishes the SQEs written so far and returns how many the
// kernel has not consumed yet.
func (b *uringBackend) publishSQ() uint32 { return b.ring.Publish() }

// TestTimeoutNeverReachesTheKernel: on io_uring a Timeout is the loop's
// own (timers.go), not an IORING_OP_TIMEOUT request: it takes no token and
// no SQE, and only bounds the wait of io_uring_enter.
func TestTimeoutNeverReachesTheKernel(t *testing.T) {
	l := newTestLoop(t, Options{Backend: BackendIOUring})
	const timers = 100
	ops := make([]opResult, timers)
	cs := make([]Completion, timers)
	for i := range cs {
		Timeout(l, &cs[i], time.Hour, &ops[i], (*opResult).onErr)
	}
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	b := uringOf(l)
	if n := l.inflight.count; n != 0 {
		t.Fatalf("%d tokens in flight after %d Timeouts: a Timeout reached the kernel", n, timers)
	}
	if n := b.publishSQ(); n != 0 || b.overflowLen() != 0 {
		t.Fatalf("SQ holds %d unconsumed entries and the overflow %d after %d Timeouts", n, b.overflowLen(), timers)
	}
	if got := l.Pending(); got != timers {
		t.Fatalf("Pending() = %d, want %d Timeouts", got, timers)
	}
	// A short one bounds the wait: RunFor(1 h) returns once it fired.
	var short Completion
	var r opResult
	Timeout(l, &short, 5*time.Millisecond, &r, (*opResult).onErr)
	await(t, l, &r)
	wantOK(t, "Timeout(5 ms)", &r)
	if n := l.inflight.count; n != 0 {
		t.Fatalf("%d tokens in flight while waiting on a Timeout", n)
	}
}

func TestLinkTimeoutFiredCodeIsETIME(t *testing.T) {
	if codeLinkTimeoutFired != errorCode(syscall.ETIME) {
		t.Fatalf("codeLinkTimeoutFired = %d, want ETIME (%d)", codeLinkTimeoutFired, syscall.ETIME)
	}
}
