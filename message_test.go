//go:build linux

package ioloop

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests of Message: the doorbell between io_uring loops (IORING_OP_MSG_RING),
// the fallback to the target's own wakeup across backends, closed targets,
// Messages that must be flushed because nothing else will submit, and
// targets whose ring is set up for one thread (SINGLE_ISSUER and
// DEFER_TASKRUN, as in a Group).

// countKernelWakes counts the target's kernel wakeups (the eventfd write on
// io_uring and epoll) by wrapping wake.kernel. Call it before any other
// goroutine uses l.
func countKernelWakes(l *Loop) *atomic.Int64 {
	n := new(atomic.Int64)
	kernel := l.wake.kernel
	l.wake.kernel = func() {
		n.Add(1)
		kernel()
	}
	return n
}

// waitAsleep waits until l, driven by another goroutine, has announced a
// blocking wait (in the kernel, or parked on the readiness backends).
func waitAsleep(t testing.TB, l *Loop) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.wake.state.Load() == loopAwake {
		if time.Now().After(deadline) {
			t.Fatal("the target loop never blocked")
		}
		time.Sleep(100 * time.Microsecond)
	}
	time.Sleep(2 * time.Millisecond) // let it enter the wait for real (harmless if it already did)
}

// msgTarget is the ctx of a Message: it records that it ran, on which
// thread, and stops its loop's RunFor when stop is set.
type msgTarget struct {
	l     *Loop
	stop  bool
	tid   int
	ranOn atomic.Int64 // thread id it ran on
	runs  atomic.Int32
	reply func() // if set, runs on the target loop after the checks
}

func (m *msgTarget) run() {
	m.ranOn.Store(int64(unix.Gettid()))
	m.runs.Add(1)
	if m.reply != nil {
		m.reply()
	}
	if m.stop {
		m.l.Stop()
	}
}

// blockedRun is a RunFor(30s) of l on its own locked goroutine.
type blockedRun struct {
	tid     chan int
	elapsed chan time.Duration
}

func startBlockedRun(t testing.TB, l *Loop) *blockedRun {
	r := &blockedRun{tid: make(chan int, 1), elapsed: make(chan time.Duration, 1)}
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		r.tid <- unix.Gettid()
		start := time.Now()
		if err := l.RunFor(30 * time.Second); err != nil {
			t.Errorf("target RunFor: %v", err)
		}
		r.elapsed <- time.Since(start)
	}()
	return r
}

// wait waits up to limit for the RunFor to end; if it does not, it stops
// the loop with a Post (the eventfd wakeup) so that the goroutine ends, and
// fails.
func (r *blockedRun) wait(t testing.TB, l *Loop, limit time.Duration, what string) time.Duration {
	t.Helper()
	select {
	case d := <-r.elapsed:
		return d
	case <-time.After(limit):
		t.Errorf("%s: the target loop was not woken within %v", what, limit)
		if err := Post(l, &msgTarget{l: l, stop: true}, (*msgTarget).run); err != nil {
			t.Fatalf("Post: %v", err)
		}
		return <-r.elapsed
	}
}

func (m *msgTarget) check(t testing.TB, wantTID int) {
	t.Helper()
	if runs := m.runs.Load(); runs != 1 {
		t.Fatalf("the message ran %d times, want 1", runs)
	}
	if got := int(m.ranOn.Load()); got != wantTID {
		t.Fatalf("the message ran on thread %d, want the target loop's %d", got, wantTID)
	}
}

func requireDoorbells(t testing.TB, l *Loop) {
	t.Helper()
	if b := uringOf(l); b == nil || !b.canRingAny() {
		t.Skip("the kernel lacks IORING_OP_MSG_RING")
	}
}

// doorbellPeered reports whether from has rung to's doorbell.
func doorbellPeered(from, to *Loop) bool {
	for _, p := range uringOf(from).doorbells.peers {
		if p.loop == to {
			return true
		}
	}
	return false
}

// msgSender sends a Message from inside a callback.
type msgSender struct {
	from, to *Loop
	target   *msgTarget
	c        Completion
	err      error
}

func (s *msgSender) onTick(_ *Completion, err error) {
	if err != nil {
		s.err = err
		return
	}
	s.err = Message(s.from, s.to, s.target, (*msgTarget).run)
}

// TestMessageDoorbellURing wakes an io_uring loop blocked in RunFor(30s)
// with a Message from another io_uring loop, sent outside a callback (the
// doorbell must be flushed at once: nothing else will submit it) and from
// a callback (it rides in the sender's next submission). The target's
// eventfd is never written: the doorbell did the waking.
func TestMessageDoorbellURing(t *testing.T) {
	for _, where := range []string{"outside a callback", "from a callback"} {
		t.Run(where, func(t *testing.T) {
			from := newTestLoop(t, Options{Backend: BackendIOUring})
			to := newTestLoop(t, Options{Backend: BackendIOUring})
			requireDoorbells(t, from)
			wakes := countKernelWakes(to)
			run := startBlockedRun(t, to)
			tid := <-run.tid
			waitAsleep(t, to)
			target := &msgTarget{l: to, stop: true}
			if where == "outside a callback" {
				if err := Message(from, to, target, (*msgTarget).run); err != nil {
					t.Fatal(err)
				}
			} else {
				s := &msgSender{from: from, to: to, target: target}
				NextTick(from, &s.c, s, (*msgSender).onTick)
				if err := from.RunFor(time.Millisecond); err != nil || s.err != nil {
					t.Fatalf("RunFor: %v; Message: %v", err, s.err)
				}
			}
			elapsed := run.wait(t, to, 5*time.Second, where)
			target.check(t, tid)
			if elapsed > 25*time.Second {
				t.Fatalf("RunFor(30s) returned after %v", elapsed)
			}
			if !doorbellPeered(from, to) {
				t.Fatal("the sender never rang the target's doorbell")
			}
			if n := wakes.Load(); n != 0 {
				t.Fatalf("the target's eventfd was written %d times; the doorbell should have woken it", n)
			}
		})
	}
}

// TestMessageAcrossBackends sends Messages between an io_uring and an
// epoll loop, both ways: the doorbell does not apply, and the target's own
// wakeup must end its RunFor(30s).
func TestMessageAcrossBackends(t *testing.T) {
	pairs := [][2]Backend{{BackendIOUring, BackendEpoll}, {BackendEpoll, BackendIOUring}, {BackendEpoll, BackendEpoll}}
	for _, pair := range pairs {
		t.Run(pair[0].String()+"->"+pair[1].String(), func(t *testing.T) {
			from := newTestLoop(t, Options{Backend: pair[0]})
			to := newTestLoop(t, Options{Backend: pair[1]})
			wakes := countKernelWakes(to)
			run := startBlockedRun(t, to)
			tid := <-run.tid
			waitAsleep(t, to)
			target := &msgTarget{l: to, stop: true}
			if err := Message(from, to, target, (*msgTarget).run); err != nil {
				t.Fatal(err)
			}
			elapsed := run.wait(t, to, 5*time.Second, "Message")
			target.check(t, tid)
			if elapsed > 25*time.Second {
				t.Fatalf("RunFor(30s) returned after %v", elapsed)
			}
			if uringOf(from) != nil && len(uringOf(from).doorbells.peers) != 0 {
				t.Fatal("an io_uring loop rang a doorbell of an epoll loop")
			}
			if pair[1] == BackendIOUring && wakes.Load() != 1 {
				t.Fatalf("the io_uring target's eventfd was written %d times, want 1 (the fallback)", wakes.Load())
			}
		})
	}
}

// TestMessageToClosedLoop: a Message (and a Post) to a closed loop returns
// ErrClosed and never runs, on every pairing of backends; a Message from a
// closed loop is a programming error.
func TestMessageToClosedLoop(t *testing.T) {
	backends := []Backend{BackendIOUring, BackendEpoll}
	for _, fromBackend := range backends {
		for _, toBackend := range backends {
			t.Run(fromBackend.String()+"->"+toBackend.String(), func(t *testing.T) {
				from := newTestLoop(t, Options{Backend: fromBackend})
				to := newTestLoop(t, Options{Backend: toBackend})
				target := &msgTarget{l: to}
				// A Message before the close runs during Close.
				if err := Message(from, to, target, (*msgTarget).run); err != nil {
					t.Fatal(err)
				}
				if err := to.Close(); err != nil {
					t.Fatal(err)
				}
				if target.runs.Load() != 1 {
					t.Fatalf("a Message accepted before Close ran %d times during it", target.runs.Load())
				}
				late := &msgTarget{l: to}
				if err := Message(from, to, late, (*msgTarget).run); !errors.Is(err, ErrClosed) {
					t.Fatalf("Message to a closed loop: %v, want ErrClosed", err)
				}
				if err := Post(to, late, (*msgTarget).run); !errors.Is(err, ErrClosed) {
					t.Fatalf("Post to a closed loop: %v, want ErrClosed", err)
				}
				// The sender keeps working and closes cleanly.
				var c Completion
				r := &opResult{}
				Nop(from, &c, r, (*opResult).onErr)
				await(t, from, r)
				if err := from.Close(); err != nil {
					t.Fatal(err)
				}
				if late.runs.Load() != 0 {
					t.Fatal("a refused Message ran")
				}
				mustPanicWith(t, func() {
					_ = Message(from, to, late, (*msgTarget).run)
				}, "Message from a closed Loop")
			})
		}
	}
}

// TestMessageFromFinishingLoopWakesTarget sends Messages to an io_uring
// loop blocked in RunFor(30s) from io_uring loops in passes after which
// the sender submits nothing more: from a function posted to a sender that
// then closes, and from the last callback of a Run. A doorbell left in the
// sender's submission queue would never ring, and the target would sleep
// on with a Message it accepted.
func TestMessageFromFinishingLoopWakesTarget(t *testing.T) {
	for _, how := range []string{"Close", "Run"} {
		t.Run(how, func(t *testing.T) {
			from := newTestLoop(t, Options{Backend: BackendIOUring})
			to := newTestLoop(t, Options{Backend: BackendIOUring})
			requireDoorbells(t, from)
			run := startBlockedRun(t, to)
			tid := <-run.tid
			waitAsleep(t, to)
			target := &msgTarget{l: to, stop: true}
			s := &msgSender{from: from, to: to, target: target}
			switch how {
			case "Close":
				if err := Post(from, s, func(s *msgSender) { s.onTick(nil, nil) }); err != nil {
					t.Fatal(err)
				}
				if err := from.Close(); err != nil {
					t.Fatal(err)
				}
			case "Run":
				NextTick(from, &s.c, s, (*msgSender).onTick)
				if err := from.Run(); err != nil {
					t.Fatal(err)
				}
			}
			if s.err != nil {
				t.Fatalf("Message: %v", s.err)
			}
			run.wait(t, to, 5*time.Second, "Message sent during "+how)
			target.check(t, tid)
		})
	}
}

// TestMessageToLockedThreadLoop messages a Group's loop, whose ring is set
// up for its one thread (SINGLE_ISSUER, DEFER_TASKRUN), from a plain
// io_uring loop, outside and inside callbacks, and has it message back. The
// Group loop runs RunFor(1h) slices: only a wakeup gets the message run
// within the test's limit.
func TestMessageToLockedThreadLoop(t *testing.T) {
	runtime.LockOSThread() // so that the thread id identifies from's goroutine
	defer runtime.UnlockOSThread()
	goroutinesBefore := runtime.NumGoroutine()
	fdsBefore := openFDs(t)
	from, err := New(Options{Backend: BackendIOUring})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if !from.closed {
			from.Close()
		}
	}()
	var groupLoop *Loop
	var groupTID int
	var deferTaskrun, singleIssuer bool
	var wakes *atomic.Int64
	g, err := StartGroup(GroupOptions{Loops: 1, Loop: Options{Backend: BackendIOUring}}, func(l *Loop, _ int) error {
		groupLoop, groupTID = l, unix.Gettid()
		deferTaskrun, singleIssuer = uringOf(l).deferTaskrun, uringOf(l).singleIssuer
		wakes = countKernelWakes(l)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown()
	if !singleIssuer || !deferTaskrun {
		t.Logf("the Group loop's ring lacks SINGLE_ISSUER (%v) or DEFER_TASKRUN (%v) on this kernel", singleIssuer, deferTaskrun)
	}
	canRing := uringOf(from).canRingAny()

	for round, where := range []string{"outside a callback", "from a callback"} {
		waitAsleep(t, groupLoop)
		target := &msgTarget{l: groupLoop}
		// The Group loop answers with a Message back to from, which
		// blocks in RunFor(30s) until it arrives.
		back := &msgTarget{l: from, stop: true}
		target.reply = func() {
			if err := Message(groupLoop, from, back, (*msgTarget).run); err != nil {
				t.Errorf("Message back: %v", err)
			}
		}
		if where == "outside a callback" {
			if err := Message(from, groupLoop, target, (*msgTarget).run); err != nil {
				t.Fatal(err)
			}
		} else {
			s := &msgSender{from: from, to: groupLoop, target: target}
			NextTick(from, &s.c, s, (*msgSender).onTick)
		}
		start := time.Now()
		if err := from.RunFor(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		if elapsed := time.Since(start); elapsed > 25*time.Second {
			t.Fatalf("%s: the round trip took %v", where, elapsed)
		}
		target.check(t, groupTID)
		back.check(t, unix.Gettid())
		if canRing && wakes.Load() != 0 {
			t.Fatalf("%s: the Group loop's eventfd was written %d times; the doorbell should have woken it", where, wakes.Load())
		}
		if canRing && !doorbellPeered(from, groupLoop) {
			t.Fatalf("round %d: no doorbell rung", round)
		}
	}
	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := from.Close(); err != nil {
		t.Fatal(err)
	}
	waitGoroutines(t, goroutinesBefore)
	checkNoFDLeak(t, fdsBefore, openFDs(t))
}
