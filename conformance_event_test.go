package ioloop

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ioloop/ioloop/internal/simcore"
)

// eventWaiter re-arms a WaitEvent after each callback and sums the counts.
type eventWaiter struct {
	l        *Loop
	e        *Event
	c        Completion
	rearm    bool
	total    int
	calls    int
	lastErr  error
	callback func(*eventWaiter, int)
}

func (w *eventWaiter) wait() { WaitEvent(w.l, &w.c, w.e, w, (*eventWaiter).onEvent) }

func (w *eventWaiter) onEvent(_ *Completion, n int, err error) {
	w.calls++
	w.lastErr = err
	if err != nil {
		return
	}
	if n < 1 {
		panic("WaitEvent reported fewer than one trigger")
	}
	w.total += n
	if w.callback != nil {
		w.callback(w, n)
	}
	if w.rearm {
		w.wait()
	}
}

func TestEventTriggerBeforeWaitIsKept(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		e := NewEvent(l)
		e.Trigger()
		e.Trigger()
		if err := l.RunFor(time.Millisecond); err != nil { // the loop takes the triggers with no waiter
			t.Fatal(err)
		}
		e.Trigger()
		w := &eventWaiter{l: l, e: e}
		w.wait()
		runUntil(t, l, 5*time.Second, func() bool { return w.calls == 1 })
		if w.total != 3 || w.lastErr != nil {
			t.Fatalf("got total %d err %v, want 3 triggers in one callback", w.total, w.lastErr)
		}
		// Nothing triggered since: a new wait stays pending.
		w.wait()
		if err := l.RunFor(5 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if w.calls != 1 {
			t.Fatalf("a WaitEvent completed without a trigger")
		}
		e.Trigger()
		runUntil(t, l, 5*time.Second, func() bool { return w.calls == 2 })
		if w.total != 4 {
			t.Fatalf("total %d, want 4", w.total)
		}
	})
}

func TestEventCancelAndClose(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		e := NewEvent(l)
		w := &eventWaiter{l: l, e: e}
		w.wait()
		var cancel Completion
		var cancelErr error
		Cancel(l, &cancel, &w.c, &cancelErr, func(p *error, _ *Completion, err error) { *p = err })
		runUntil(t, l, 5*time.Second, func() bool { return w.calls == 1 })
		if !errors.Is(w.lastErr, ErrCanceled) || cancelErr != nil {
			t.Fatalf("wait err %v cancel err %v, want ErrCanceled and nil", w.lastErr, cancelErr)
		}
		// A trigger after the cancel goes to the next wait.
		e.Trigger()
		w.wait()
		runUntil(t, l, 5*time.Second, func() bool { return w.calls == 2 })
		if w.total != 1 {
			t.Fatalf("total %d, want 1", w.total)
		}
		w.wait()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if w.calls != 3 || !errors.Is(w.lastErr, ErrCanceled) {
			t.Fatalf("after Close: calls %d err %v, want a third callback with ErrCanceled", w.calls, w.lastErr)
		}
		e.Trigger() // a no-op now
	})
}

func TestEventMisuse(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		e := NewEvent(l)
		w := &eventWaiter{l: l, e: e}
		w.wait()
		var second Completion
		mustPanicWith(t, func() {
			WaitEvent(l, &second, e, w, (*eventWaiter).onEvent)
		}, "already has a WaitEvent pending")
		if simOf(l) != nil {
			return // another loop would need another world
		}
		other := newTestLoop(t, Options{Backend: l.Backend()})
		mustPanicWith(t, func() {
			WaitEvent(other, &second, e, w, (*eventWaiter).onEvent)
		}, "belongs to another Loop")
	})
}

// TestEventFromGoroutines triggers from several goroutines while the loop
// waits, and checks that no trigger is lost or counted twice.
func TestEventFromGoroutines(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "other goroutines wake a blocked loop")
		e := NewEvent(l)
		w := &eventWaiter{l: l, e: e, rearm: true}
		w.wait()
		const goroutines, perGoroutine = 4, 5000
		var wg sync.WaitGroup
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perGoroutine {
					e.Trigger()
					if i%100 == 0 {
						time.Sleep(10 * time.Microsecond) // let the loop fall asleep now and then
					}
				}
			}()
		}
		runUntil(t, l, 20*time.Second, func() bool { return w.total == goroutines*perGoroutine })
		wg.Wait()
		if err := l.RunFor(time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if w.total != goroutines*perGoroutine {
			t.Fatalf("counted %d triggers, want %d", w.total, goroutines*perGoroutine)
		}
		t.Logf("%d triggers in %d callbacks", w.total, w.calls)
	})
}

type postCounter struct {
	runs atomic.Int64
	l    *Loop // if set, the posted function stops it
}

func (p *postCounter) run() {
	p.runs.Add(1)
	if p.l != nil {
		p.l.Stop()
	}
}

// TestPostWakesBlockedLoop posts into a loop blocked in the kernel: only
// the wakeup can end its RunFor before the 30 s it asks for.
func TestPostWakesBlockedLoop(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "another goroutine wakes a blocked loop")
		p := &postCounter{l: l}
		go func() {
			time.Sleep(20 * time.Millisecond) // the loop is blocked by now
			if err := Post(l, p, (*postCounter).run); err != nil {
				t.Errorf("Post: %v", err)
			}
		}()
		start := time.Now()
		if err := l.RunFor(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		if elapsed := time.Since(start); p.runs.Load() != 1 || elapsed > 25*time.Second {
			t.Fatalf("posted function ran %d times; RunFor returned after %v", p.runs.Load(), elapsed)
		}
	})
}

func TestPostQueueFullAndClosed(t *testing.T) {
	forEachBackend(t, Options{InboxEntries: 4}, func(t *testing.T, l *Loop) {
		p := &postCounter{}
		for i := range 4 {
			if err := Post(l, p, (*postCounter).run); err != nil {
				t.Fatalf("Post %d: %v", i, err)
			}
		}
		if err := Post(l, p, (*postCounter).run); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("fifth Post: %v, want ErrQueueFull", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if p.runs.Load() != 4 {
			t.Fatalf("Close ran %d posted functions, want 4", p.runs.Load())
		}
		if err := Post(l, p, (*postCounter).run); !errors.Is(err, ErrClosed) {
			t.Fatalf("Post after Close: %v, want ErrClosed", err)
		}
	})
}

type stopper struct {
	l     *Loop
	c     Completion
	ticks int
}

func (s *stopper) onTick(_ *Completion, _ error) {
	s.ticks++
	if s.ticks == 3 {
		s.l.Stop()
		return
	}
	NextTick(s.l, &s.c, s, (*stopper).onTick)
}

func TestStopEndsRunFor(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		s := &stopper{l: l}
		NextTick(l, &s.c, s, (*stopper).onTick)
		start := l.Now()
		if err := l.RunFor(time.Hour); err != nil {
			t.Fatal(err)
		}
		if s.ticks != 3 || l.Now().Sub(start) > time.Minute {
			t.Fatalf("RunFor returned after %d ticks and %v", s.ticks, l.Now().Sub(start))
		}
		if simOf(l) != nil {
			return
		}
		// From another goroutine, into a blocked Run waiting on an Event.
		w := &eventWaiter{l: l, e: NewEvent(l)}
		w.wait()
		go func() {
			time.Sleep(20 * time.Millisecond)
			l.Stop()
		}()
		if err := l.Run(); err != nil {
			t.Fatal(err)
		}
		if w.calls != 0 {
			t.Fatal("the wait completed")
		}
	})
}

// TestEventWaitAloneDeadlocksSimulatedWorld: on the simulator nothing
// outside the world can trigger an Event deterministically, so a world
// whose only pending work is a WaitEvent is deadlocked, and Run says so
// instead of hanging (docs/SIMULATION.md).
func TestEventWaitAloneDeadlocksSimulatedWorld(t *testing.T) {
	l := newTestLoop(t, Options{Backend: BackendSimulator})
	w := &eventWaiter{l: l, e: NewEvent(l)}
	w.wait()
	if err := l.Run(); !errors.Is(err, simcore.ErrDeadlock) {
		t.Fatalf("Run: %v, want simcore.ErrDeadlock", err)
	}
}

// externalWork is work a goroutine takes from the loop and posts back.
type externalWork struct {
	loop   *Loop
	done   *Event
	wait   Completion
	posted bool
	waited error
}

func (w *externalWork) onPosted()                              { w.posted = true }
func (w *externalWork) onDone(_ *Completion, _ int, err error) { w.waited = err }

// TestRunWaitsForExternalWorkThroughAnEvent checks the rule Run documents
// for work held by other goroutines: with a WaitEvent pending on an Event
// the goroutine triggers after posting its result, Run returns only once
// the posted function has run.
func TestRunWaitsForExternalWorkThroughAnEvent(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "another goroutine wakes a blocked loop")
		w := &externalWork{loop: l, done: NewEvent(l)}
		WaitEvent(l, &w.wait, w.done, w, (*externalWork).onDone)
		go func() {
			time.Sleep(20 * time.Millisecond) // the work, off the loop
			if err := Post(l, w, (*externalWork).onPosted); err != nil {
				t.Errorf("Post: %v", err)
			}
			w.done.Trigger()
		}()
		if err := l.Run(); err != nil {
			t.Fatal(err)
		}
		if !w.posted || w.waited != nil {
			t.Fatalf("Run returned with posted=%v, WaitEvent err %v; want the posted function run and the wait done", w.posted, w.waited)
		}
	})
}
