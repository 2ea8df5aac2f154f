package ioloop

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// closeOp records every callback of one Completion during a Close test.
type closeOp struct {
	c     Completion
	l     *Loop
	errs  []error
	ns    []int
	again bool // resubmit once from the callback (during Close)
}

func (o *closeOp) onIO(_ *Completion, n int, err error) {
	o.ns = append(o.ns, n)
	o.errs = append(o.errs, err)
	o.resubmit()
}

func (o *closeOp) onErr(_ *Completion, err error) {
	o.ns = append(o.ns, 0)
	o.errs = append(o.errs, err)
	o.resubmit()
}

func (o *closeOp) resubmit() {
	if o.again && len(o.errs) == 1 {
		Nop(o.l, &o.c, o, (*closeOp).onErr)
	}
}

// once fails unless the operation called back exactly once and returns
// its result.
func (o *closeOp) once(t *testing.T, what string) (int, error) {
	t.Helper()
	want := 1
	if o.again {
		want = 2
	}
	if len(o.errs) != want {
		t.Fatalf("%s: %d callbacks (%v), want %d", what, len(o.errs), o.errs, want)
	}
	return o.ns[0], o.errs[0]
}

func TestCloseWithOperationsInFlight(t *testing.T) {
	forEachBackendNoLoop(t, func(t *testing.T, backend Backend) {
		openFDs(t) // let the runtime open whatever it opens lazily
		before := openFDs(t)
		l := newTestLoop(t, Options{Backend: backend, Entries: 2})
		fds := newTestFDs(t, l)

		// Recvs on idle sockets: several per socket, more than the SQ holds,
		// so that Close must submit its cancellations in rounds.
		var pairs [4][2]int
		for i := range pairs {
			pairs[i][0], pairs[i][1] = fds.socketPair()
		}
		recvs := make([]closeOp, 24)
		bufs := make([][]byte, len(recvs))
		for i := range recvs {
			recvs[i].l = l
			bufs[i] = make([]byte, 512)
			Recv(l, &recvs[i].c, pairs[i%len(pairs)][1], bufs[i], &recvs[i], (*closeOp).onIO)
		}
		// Long Timeouts whose callbacks resubmit while the loop closes.
		timeouts := make([]closeOp, 4)
		for i := range timeouts {
			timeouts[i] = closeOp{l: l, again: true}
			Timeout(l, &timeouts[i].c, time.Hour, &timeouts[i], (*closeOp).onErr)
		}
		// A large Send into a peer that does not read: it blocks after the
		// socket buffer filled.
		sa, sb := fds.socketPair()
		fds.setSndBuf(sa, 8<<10)
		const sendSize = 4 << 20
		msg := make([]byte, sendSize)
		fillStressPattern(msg, 21, 0)
		send := closeOp{l: l}
		Send(l, &send.c, sa, msg, &send, (*closeOp).onIO)

		startedInKernel(t, l)
		for i := range recvs {
			if len(recvs[i].errs) != 0 {
				t.Fatalf("Recv %d on an idle socket completed: %v", i, recvs[i].errs)
			}
		}
		if len(send.errs) != 0 {
			t.Fatalf("Send into a full socket completed: n=%v err=%v", send.ns, send.errs)
		}

		// Nops queued behind a full SQ, and a Cancel queued among them.
		nops := make([]closeOp, 40)
		for i := range nops {
			nops[i].l = l
			Nop(l, &nops[i].c, &nops[i], (*closeOp).onErr)
		}
		if b := uringOf(l); b != nil && b.overflowLen() < len(nops)-2 {
			t.Fatalf("only %d operations in the overflow FIFO", b.overflowLen())
		}
		cancel := closeOp{l: l}
		Cancel(l, &cancel.c, &recvs[0].c, &cancel, (*closeOp).onErr)

		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if p := l.Pending(); p != 0 {
			t.Fatalf("Pending() = %d after Close", p)
		}

		for i := range recvs {
			if n, err := recvs[i].once(t, "Recv"); n != 0 || err != ErrCanceled || !errors.Is(err, syscall.ECANCELED) {
				t.Fatalf("Recv %d: n=%d err=%v, want ErrCanceled", i, n, err)
			}
		}
		for i := range timeouts {
			if _, err := timeouts[i].once(t, "Timeout"); err != ErrCanceled {
				t.Fatalf("Timeout %d: %v, want ErrCanceled", i, err)
			}
			if err := timeouts[i].errs[1]; err != ErrClosed {
				t.Fatalf("Nop submitted by a callback during Close got %v, want ErrClosed", err)
			}
		}
		canceledNops := 0
		for i := range nops {
			_, err := nops[i].once(t, "Nop")
			switch err {
			case ErrCanceled:
				canceledNops++
			case nil: // reached the kernel before Close
			default:
				t.Fatalf("Nop %d: %v", i, err)
			}
		}
		if canceledNops < len(nops)-2 {
			t.Fatalf("only %d of %d queued Nops were canceled", canceledNops, len(nops))
		}
		if _, err := cancel.once(t, "Cancel"); err != nil && err != ErrCanceled {
			t.Fatalf("Cancel queued at Close: %v", err)
		}

		n, err := send.once(t, "Send")
		if err != ErrCanceled || n <= 0 || n >= sendSize {
			t.Fatalf("partially sent Send: n=%d err=%v, want 0 < n < %d and ErrCanceled", n, err, sendSize)
		}
		// The peer's descriptor outlives the loop; on the simulator another
		// loop of the node reads it.
		reader := l
		if simOf(l) != nil {
			reader = newSimLoop(simOf(l).world, simOf(l).node)
			t.Cleanup(func() { reader.Close() })
			fds.l = reader
		}
		got := stressDrain(t, reader, sb, nil)
		if len(got) != n {
			t.Fatalf("Send reported n=%d, the peer received %d bytes", n, len(got))
		}
		if i := firstStressMismatch(got, 21, 0); i >= 0 {
			t.Fatalf("byte %d received by the peer is wrong", i)
		}

		// A closed loop refuses everything, loudly.
		var c Completion
		var sink closeOp
		mustPanicWith(t, func() { Nop(l, &c, &sink, (*closeOp).onErr) }, "closed Loop")
		mustPanicWith(t, func() { Recv(l, &c, sb, make([]byte, 1), &sink, (*closeOp).onIO) }, "closed Loop")
		mustPanicWith(t, func() { _ = l.RunFor(time.Millisecond) }, "RunFor", "closed Loop")
		mustPanicWith(t, func() { _ = l.Tick() }, "Tick", "closed Loop")
		mustPanicWith(t, func() { _ = l.Run() }, "Run", "closed Loop")
		if err := l.Close(); err != ErrClosed {
			t.Fatalf("second Close: %v, want ErrClosed", err)
		}
		if len(sink.errs) != 0 {
			t.Fatalf("a rejected submission called back: %v", sink.errs)
		}

		for fd := range fds.open {
			fds.close(fd)
		}
		checkNoFDLeak(t, before, openFDs(t))
	})
}

// Close with far more operations in the kernel than either ring holds: the
// cancellations are submitted in many rounds and their completions (and
// the targets') overflow the CQ.
func TestCloseManyInFlightTinyRings(t *testing.T) {
	forEachBackendNoLoop(t, func(t *testing.T, backend Backend) {
		openFDs(t)
		before := openFDs(t)
		l := newTestLoop(t, Options{Backend: backend, Entries: 2, CompletionEntries: 2})
		fds := newTestFDs(t, l)
		_, idle := fds.socketPair()
		recvs := make([]closeOp, 300)
		buf := make([]byte, 16)
		for i := range recvs {
			Recv(l, &recvs[i].c, idle, buf, &recvs[i], (*closeOp).onIO)
		}
		timeouts := make([]closeOp, 300)
		for i := range timeouts {
			Timeout(l, &timeouts[i].c, time.Hour, &timeouts[i], (*closeOp).onErr)
		}
		startedInKernel(t, l)
		start := time.Now()
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		t.Logf("Close canceled %d operations in %v", len(recvs)+len(timeouts), time.Since(start))
		for i := range recvs {
			if _, err := recvs[i].once(t, "Recv"); err != ErrCanceled {
				t.Fatalf("Recv %d: %v", i, err)
			}
		}
		for i := range timeouts {
			if _, err := timeouts[i].once(t, "Timeout"); err != ErrCanceled {
				t.Fatalf("Timeout %d: %v", i, err)
			}
		}
		for fd := range fds.open {
			fds.close(fd)
		}
		checkNoFDLeak(t, before, openFDs(t))
	})
}

// Operations that complete while Close runs keep their own result.
func TestCloseKeepsResultsThatWon(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		fds := newTestFDs(t, l)
		a, b := fds.socketPair()
		stressWrite(t, l, a, []byte("ready"))
		var r closeOp
		buf := make([]byte, 16)
		Recv(l, &r.c, b, buf, &r, (*closeOp).onIO)
		var done [3]closeOp
		NextTick(l, &done[0].c, &done[0], (*closeOp).onErr)
		Nop(l, &done[1].c, &done[1], (*closeOp).onErr)
		Timeout(l, &done[2].c, 0, &done[2], (*closeOp).onErr)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		// The Recv had its data before Close: canceled or not, it must be
		// one of the two, and if it got data, the right data.
		n, err := r.once(t, "Recv")
		switch err {
		case nil:
			if string(buf[:n]) != "ready" {
				t.Fatalf("Recv got %q", buf[:n])
			}
		case ErrCanceled:
		default:
			t.Fatalf("Recv: %v", err)
		}
		if _, err := done[0].once(t, "NextTick"); err != nil {
			t.Fatalf("NextTick submitted before Close: %v", err)
		}
		for i := 1; i < len(done); i++ {
			if _, err := done[i].once(t, "op"); err != nil && err != ErrCanceled {
				t.Fatalf("op %d: %v", i, err)
			}
		}
	})
}

// closeRule submits a Close of fd from a callback and records its result.
type closeRule struct {
	l        *Loop
	fd       int
	timer    Completion
	close    Completion
	closeErr error
	closed   int // Close callbacks
}

func (r *closeRule) onTimer(_ *Completion, _ error) {
	Close(r.l, &r.close, r.fd, r, (*closeRule).onClose)
}

func (r *closeRule) onClose(_ *Completion, err error) {
	r.closeErr = err
	r.closed++
}

// TestCloseOpReleasesUnlessItNeverRan checks the rule the Close operation
// documents: after ErrClosed or ErrCanceled the descriptor was not closed
// (the operation never ran) and is still open; after any other result it
// is released. Two ways to reach those results: a Close submitted while the
// Loop closes (always ErrClosed), and a Close submitted and canceled at
// once by Loop.Close (ErrCanceled where the backend still held it, success
// where io_uring ran it with the cancellations).
func TestCloseOpReleasesUnlessItNeverRan(t *testing.T) {
	forEachBackendNoLoop(t, func(t *testing.T, backend Backend) {
		t.Run("submitted during Close", func(t *testing.T) {
			l := newTestLoop(t, Options{Backend: backend})
			fds := newTestFDs(t, l)
			a, _ := fds.socketPair()
			r := &closeRule{l: l, fd: a}
			Timeout(l, &r.timer, time.Hour, r, (*closeRule).onTimer)
			if err := l.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if r.closed != 1 || !errors.Is(r.closeErr, ErrClosed) {
				t.Fatalf("Close during Loop.Close: %d callbacks, err %v; want 1, ErrClosed", r.closed, r.closeErr)
			}
			if simOf(l) == nil && !fdIsOpen(t, nil, a) {
				t.Fatalf("a Close that got ErrClosed closed the descriptor")
			}
		})
		t.Run("canceled by Close", func(t *testing.T) {
			l := newTestLoop(t, Options{Backend: backend})
			_, fd := tempFile(t, l, []byte("x"))
			r := &closeRule{l: l, fd: fd}
			Close(l, &r.close, fd, r, (*closeRule).onClose)
			if err := l.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if r.closed != 1 {
				t.Fatalf("%d Close callbacks, want 1", r.closed)
			}
			if simOf(l) != nil {
				return // the node's descriptors are gone with its loop
			}
			neverRan := errors.Is(r.closeErr, ErrCanceled) || errors.Is(r.closeErr, ErrClosed)
			if !neverRan {
				disownFD(fd)
			}
			if open := fdIsOpen(t, nil, fd); open != neverRan {
				t.Fatalf("Close ended with %v and the descriptor is open=%v; the rule says open only after ErrCanceled or ErrClosed",
					r.closeErr, open)
			}
		})
	})
}
