package ioloop

import (
	"errors"
	"math"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Conformance tests of linked operations (chain.go): BeginChain, EndChain
// and LinkTimeout, on every backend.

// wantBroken fails unless r got ErrChainBroken, which matches ECANCELED
// but not ErrCanceled.
func wantBroken(t testing.TB, what string, r *opResult) {
	t.Helper()
	wantErr(t, what, r, ErrChainBroken)
	if errors.Is(r.err, ErrCanceled) || !errors.Is(r.err, syscall.ECANCELED) {
		t.Fatalf("%s: ErrChainBroken should match ECANCELED and not ErrCanceled", what)
	}
}

// wantOrder fails unless the callbacks ran in the order given.
func wantOrder(t testing.TB, rs ...*opResult) {
	t.Helper()
	for i := 1; i < len(rs); i++ {
		if rs[i-1].seq >= rs[i].seq {
			t.Fatalf("callback %d ran at %d, before or with callback %d at %d", i, rs[i].seq, i-1, rs[i-1].seq)
		}
	}
}

func TestChainRunsInOrder(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, fd := tempFile(t, l, nil)
		var cs [4]Completion
		var rs [4]opResult
		l.BeginChain()
		Write(l, &cs[0], fd, []byte("first "), -1, &rs[0], (*opResult).onCount)
		Write(l, &cs[1], fd, []byte("second"), -1, &rs[1], (*opResult).onCount)
		Fdatasync(l, &cs[2], fd, &rs[2], (*opResult).onErr)
		Nop(l, &cs[3], &rs[3], (*opResult).onErr)
		l.EndChain()
		if !cs[3].Pending() {
			t.Fatal("the chain's last operation is not pending after EndChain")
		}
		await(t, l, &rs[0], &rs[1], &rs[2], &rs[3])
		wantN(t, "Write 1", &rs[0], 6)
		wantN(t, "Write 2", &rs[1], 6)
		wantOK(t, "Fdatasync", &rs[2])
		wantOK(t, "Nop", &rs[3])
		wantOrder(t, &rs[0], &rs[1], &rs[2], &rs[3])
		wantFile(t, l, path, []byte("first second"))

		// The Completions are free again, and a chain can follow a chain.
		rs = [4]opResult{}
		l.BeginChain()
		Write(l, &cs[0], fd, []byte("!"), 12, &rs[0], (*opResult).onCount)
		Fsync(l, &cs[1], fd, &rs[1], (*opResult).onErr)
		l.EndChain()
		await(t, l, &rs[0], &rs[1])
		wantN(t, "Write 3", &rs[0], 1)
		wantOK(t, "Fsync", &rs[1])
		wantFile(t, l, path, []byte("first second!"))
	})
}

func TestChainStopsAtFirstFailure(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, fd := tempFile(t, l, []byte("abc"))
		var cs [3]Completion
		var rs [3]opResult
		// A Read of a bad descriptor fails; the Write after it must not
		// run.
		l.BeginChain()
		Read(l, &cs[0], 1<<20, make([]byte, 3), 0, &rs[0], (*opResult).onCount)
		Write(l, &cs[1], fd, []byte("XYZ"), 0, &rs[1], (*opResult).onCount)
		Nop(l, &cs[2], &rs[2], (*opResult).onErr)
		l.EndChain()
		await(t, l, &rs[0], &rs[1], &rs[2])
		wantErr(t, "Read of a bad fd", &rs[0], syscall.EBADF)
		wantBroken(t, "Write after it", &rs[1])
		wantBroken(t, "Nop after it", &rs[2])
		wantOrder(t, &rs[0], &rs[1], &rs[2])
		wantFile(t, l, path, []byte("abc"))
	})
}

func TestChainShortReadBreaksIt(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		_, fd := tempFile(t, l, []byte("abc"))
		var cs [3]Completion
		var rs [3]opResult
		// The kernel's rule: the next operation assumed the whole buffer.
		l.BeginChain()
		Read(l, &cs[0], fd, make([]byte, 10), 0, &rs[0], (*opResult).onCount)
		Nop(l, &cs[1], &rs[1], (*opResult).onErr)
		l.EndChain()
		await(t, l, &rs[0], &rs[1])
		wantN(t, "short Read", &rs[0], 3)
		wantBroken(t, "Nop after a short Read", &rs[1])

		// A full one lets it go on; so does a Recv that is short (a
		// socket's short receive is not a failure).
		rs = [3]opResult{}
		l.BeginChain()
		Read(l, &cs[0], fd, make([]byte, 3), 0, &rs[0], (*opResult).onCount)
		Nop(l, &cs[1], &rs[1], (*opResult).onErr)
		l.EndChain()
		await(t, l, &rs[0], &rs[1])
		wantN(t, "full Read", &rs[0], 3)
		wantOK(t, "Nop after a full Read", &rs[1])
	})
}

func TestChainRejectedArgumentFailsWholeChain(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, fd := tempFile(t, l, []byte("abc"))
		var cs [3]Completion
		var rs [3]opResult
		l.BeginChain()
		Write(l, &cs[0], fd, []byte("XYZ"), 0, &rs[0], (*opResult).onCount)
		Read(l, &cs[1], fd, make([]byte, 3), -7, &rs[1], (*opResult).onCount)
		Nop(l, &cs[2], &rs[2], (*opResult).onErr)
		l.EndChain()
		await(t, l, &rs[0], &rs[1], &rs[2])
		wantBroken(t, "Write before the rejected Read", &rs[0])
		wantErr(t, "Read with offset -7", &rs[1], syscall.EINVAL)
		wantBroken(t, "Nop after it", &rs[2])
		wantFile(t, l, path, []byte("abc"))
	})
}

func TestLinkTimeoutFires(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, _ := tcpPair(t, l, loopback4)
		var recv, timeout, after Completion
		var rr, rt, ra opResult
		start := l.Now()
		l.BeginChain()
		Recv(l, &recv, client, make([]byte, 16), &rr, (*opResult).onCount)
		LinkTimeout(l, &timeout, 30*time.Millisecond, &rt, (*opResult).onErr)
		Nop(l, &after, &ra, (*opResult).onErr)
		l.EndChain()
		await(t, l, &rr, &rt, &ra)
		wantErr(t, "Recv past its LinkTimeout", &rr, ErrTimedOut)
		if !errors.Is(rr.err, os.ErrDeadlineExceeded) {
			t.Fatalf("Recv's %v does not match os.ErrDeadlineExceeded", rr.err)
		}
		var timeoutErr interface{ Timeout() bool }
		if !errors.As(rr.err, &timeoutErr) || !timeoutErr.Timeout() {
			t.Fatalf("Recv's %v has no Timeout() true", rr.err)
		}
		wantOK(t, "LinkTimeout that fired", &rt)
		wantBroken(t, "Nop after the timed-out Recv", &ra)
		wantOrder(t, &rr, &rt, &ra)
		if waited := rr.at.Sub(start); waited < 30*time.Millisecond {
			t.Fatalf("Recv timed out after %v, before its 30ms LinkTimeout", waited)
		}
	})
}

func TestLinkTimeoutOperationFinishesFirst(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		writeAll(t, l, server, []byte("hello"))
		var recv, timeout, after Completion
		var rr, rt, ra opResult
		buf := make([]byte, 16)
		l.BeginChain()
		Recv(l, &recv, client, buf, &rr, (*opResult).onCount)
		LinkTimeout(l, &timeout, time.Hour, &rt, (*opResult).onErr)
		Nop(l, &after, &ra, (*opResult).onErr)
		l.EndChain()
		await(t, l, &rr, &rt, &ra)
		wantN(t, "Recv", &rr, 5)
		wantErr(t, "LinkTimeout of a Recv that finished", &rt, ErrCanceled)
		wantOK(t, "Nop after the Recv (the LinkTimeout does not break the chain)", &ra)
		wantOrder(t, &rr, &rt, &ra)
	})
}

func TestLinkTimeoutMidChain(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		var cs [5]Completion
		var rs [5]opResult
		// Send, then Recv bounded by a timeout: the peer never answers.
		l.BeginChain()
		Send(l, &cs[0], client, []byte("ping"), &rs[0], (*opResult).onCount)
		Recv(l, &cs[1], client, make([]byte, 16), &rs[1], (*opResult).onCount)
		LinkTimeout(l, &cs[2], 20*time.Millisecond, &rs[2], (*opResult).onErr)
		Nop(l, &cs[3], &rs[3], (*opResult).onErr)
		l.EndChain()
		await(t, l, &rs[0], &rs[1], &rs[2], &rs[3])
		wantN(t, "Send", &rs[0], 4)
		wantErr(t, "Recv", &rs[1], ErrTimedOut)
		wantOK(t, "LinkTimeout", &rs[2])
		wantBroken(t, "Nop", &rs[3])
		if got := readAllNonblocking(t, l, server, 4); string(got) != "ping" {
			t.Fatalf("peer got %q", got)
		}

		// The Send fails: the Recv and its LinkTimeout never run.
		rs = [5]opResult{}
		l.BeginChain()
		Send(l, &cs[0], 1<<20, []byte("ping"), &rs[0], (*opResult).onCount)
		Recv(l, &cs[1], client, make([]byte, 16), &rs[1], (*opResult).onCount)
		LinkTimeout(l, &cs[2], time.Hour, &rs[2], (*opResult).onErr)
		l.EndChain()
		await(t, l, &rs[0], &rs[1], &rs[2])
		wantErr(t, "Send to a bad fd", &rs[0], syscall.EBADF)
		wantBroken(t, "Recv", &rs[1])
		wantBroken(t, "LinkTimeout", &rs[2])
		wantOrder(t, &rs[0], &rs[1], &rs[2])
	})
}

func TestChainCancel(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, _ := tcpPair(t, l, loopback4)
		var recv, nop, cancelRunning, cancelWaiting Completion
		var rr, rn, rc, rw opResult
		l.BeginChain()
		Recv(l, &recv, client, make([]byte, 16), &rr, (*opResult).onCount)
		Nop(l, &nop, &rn, (*opResult).onErr)
		l.EndChain()
		if err := l.Tick(); err != nil {
			t.Fatal(err)
		}
		// The Nop has not started: there is nothing to cancel yet.
		Cancel(l, &cancelWaiting, &nop, &rw, (*opResult).onErr)
		await(t, l, &rw)
		wantErr(t, "Cancel of an operation waiting in its chain", &rw, ErrNotFound)
		// Canceling the running one ends the chain.
		Cancel(l, &cancelRunning, &recv, &rc, (*opResult).onErr)
		await(t, l, &rr, &rn, &rc)
		wantOK(t, "Cancel of the running Recv", &rc)
		wantErr(t, "canceled Recv", &rr, ErrCanceled)
		wantBroken(t, "Nop after it", &rn)
	})
}

func TestChainClose(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, _ := tcpPair(t, l, loopback4)
		var recv, timeout, nop Completion
		var rr, rt, rn opResult
		l.BeginChain()
		Recv(l, &recv, client, make([]byte, 16), &rr, (*opResult).onCount)
		LinkTimeout(l, &timeout, time.Hour, &rt, (*opResult).onErr)
		Nop(l, &nop, &rn, (*opResult).onErr)
		l.EndChain()
		if err := l.Tick(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*opResult{&rr, &rt, &rn} {
			if r.calls != 1 || !errors.Is(r.err, ErrCanceled) {
				t.Fatalf("after Close: calls=%d err=%v, want one ErrCanceled", r.calls, r.err)
			}
		}
	})
}

func TestChainMisuse(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		var c, d Completion
		var r opResult
		mustPanicWith(t, func() { LinkTimeout(l, &c, time.Second, &r, (*opResult).onErr) }, "LinkTimeout outside a chain")
		mustPanicWith(t, l.EndChain, "EndChain without BeginChain")
		l.BeginChain()
		mustPanicWith(t, l.BeginChain, "chains do not nest")
		mustPanicWith(t, func() { LinkTimeout(l, &c, time.Second, &r, (*opResult).onErr) }, "first operation of a chain")
		mustPanicWith(t, func() { Timeout(l, &c, time.Second, &r, (*opResult).onErr) }, "Timeout cannot be part of a chain")
		mustPanicWith(t, func() { _ = l.Tick() }, "Tick with a chain open")
		Nop(l, &c, &r, (*opResult).onErr)
		LinkTimeout(l, &d, time.Second, &r, (*opResult).onErr)
		var e Completion
		mustPanicWith(t, func() { LinkTimeout(l, &e, time.Second, &r, (*opResult).onErr) }, "right after another LinkTimeout")
		l.EndChain()
		runUntil(t, l, waitLimit, func() bool { return !c.Pending() && !d.Pending() })
	})
}

func TestChainFromCallbackLeftOpenPanics(t *testing.T) {
	l := newTestLoop(t, Options{Backend: readinessBackendKind})
	var c Completion
	var r opResult
	NextTick(l, &c, l, func(l *Loop, _ *Completion, _ error) { l.BeginChain() })
	mustPanicWith(t, func() { _ = l.Tick() }, "callback returned with a chain open")
	_ = r
}

func TestChainUringOverflowStaysWhole(t *testing.T) {
	if !haveIOUring(t) {
		return
	}
	// A tiny ring: the chain cannot join a half-full SQ, and must wait in
	// the overflow FIFO to be written whole.
	l := newTestLoop(t, Options{Backend: BackendIOUring, Entries: 4})
	_, fd := tempFile(t, l, nil)
	var fill [3]Completion
	var rf [3]opResult
	for i := range fill {
		Nop(l, &fill[i], &rf[i], (*opResult).onErr)
	}
	var cs [4]Completion
	var rs [4]opResult
	l.BeginChain()
	for i := 0; i < 3; i++ {
		Write(l, &cs[i], fd, []byte{'a' + byte(i)}, -1, &rs[i], (*opResult).onCount)
	}
	Fdatasync(l, &cs[3], fd, &rs[3], (*opResult).onErr)
	l.EndChain()
	await(t, l, &rf[0], &rf[1], &rf[2], &rs[0], &rs[1], &rs[2], &rs[3])
	for i := 0; i < 3; i++ {
		wantN(t, "Write", &rs[i], 1)
	}
	wantOK(t, "Fdatasync", &rs[3])
	wantOrder(t, &rs[0], &rs[1], &rs[2], &rs[3])

	var long [5]Completion
	l.BeginChain()
	for i := range long {
		Nop(l, &long[i], &rf[0], (*opResult).onErr)
	}
	mustPanicWith(t, l.EndChain, "does not fit in the submission queue")
}

func TestChainUsesKernelLinksOnIOUring(t *testing.T) {
	if !haveIOUring(t) {
		return
	}
	// The second Write of the chain must reach the kernel before the first
	// completes: the kernel, not the loop, links them. One Tick submits
	// both; a loop-run chain would need a second pass for the second.
	l := newTestLoop(t, Options{Backend: BackendIOUring})
	_, fd := tempFile(t, l, nil)
	var a, b Completion
	var ra, rb opResult
	l.BeginChain()
	Write(l, &a, fd, []byte("a"), 0, &ra, (*opResult).onCount)
	Write(l, &b, fd, []byte("b"), 1, &rb, (*opResult).onCount)
	l.EndChain()
	if a.state != stateInFlight || b.state != stateInFlight {
		t.Fatalf("after EndChain: states %v and %v, want both in flight (in the SQ)", a.state, b.state)
	}
	await(t, l, &ra, &rb)
	wantN(t, "Write a", &ra, 1)
	wantN(t, "Write b", &rb, 1)
}

// haveIOUring skips a test of io_uring's own behaviour off Linux (on Linux
// the suite requires io_uring: testBackends lists it).
func haveIOUring(t *testing.T) bool {
	if runtime.GOOS != "linux" {
		t.Skip("io_uring is Linux's")
	}
	return true
}

func TestLinkTimeoutExtremeDurations(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		var recv, timeout, cancel Completion
		var rr, rt, rc opResult
		buf := make([]byte, 16)

		// A negative duration fires as soon as the operation starts.
		l.BeginChain()
		Recv(l, &recv, client, buf, &rr, (*opResult).onCount)
		LinkTimeout(l, &timeout, -time.Hour, &rt, (*opResult).onErr)
		l.EndChain()
		await(t, l, &rr, &rt)
		wantErr(t, "Recv with a negative LinkTimeout", &rr, ErrTimedOut)
		wantOK(t, "negative LinkTimeout", &rt)

		// A duration whose deadline overflows never fires: the Recv waits
		// until canceled, and the LinkTimeout ends with it.
		rr, rt = opResult{}, opResult{}
		l.BeginChain()
		Recv(l, &recv, client, buf, &rr, (*opResult).onCount)
		LinkTimeout(l, &timeout, time.Duration(math.MaxInt64), &rt, (*opResult).onErr)
		l.EndChain()
		stillPending(t, l, 30*time.Millisecond, "Recv with a LinkTimeout of MaxInt64", &rr)
		Cancel(l, &cancel, &recv, &rc, (*opResult).onErr)
		await(t, l, &rr, &rt, &rc)
		wantOK(t, "Cancel", &rc)
		wantErr(t, "canceled Recv", &rr, ErrCanceled)
		wantErr(t, "LinkTimeout of MaxInt64", &rt, ErrCanceled)

		// And the operation completing first cancels it.
		rr, rt = opResult{}, opResult{}
		writeAll(t, l, server, []byte("x"))
		l.BeginChain()
		Recv(l, &recv, client, buf, &rr, (*opResult).onCount)
		LinkTimeout(l, &timeout, time.Duration(math.MaxInt64), &rt, (*opResult).onErr)
		l.EndChain()
		await(t, l, &rr, &rt)
		wantN(t, "Recv", &rr, 1)
		wantErr(t, "LinkTimeout of MaxInt64", &rt, ErrCanceled)
	})
}
