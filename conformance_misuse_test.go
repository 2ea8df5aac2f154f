package ioloop

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// misuseLog records callbacks by name, in order.
type misuseLog struct {
	l     *Loop
	calls []string
	errs  []error
}

type misuseOp struct {
	c    Completion
	name string
	log  *misuseLog
	// during runs inside the callback after it is recorded.
	during func()
}

func (o *misuseOp) onErr(_ *Completion, err error) {
	o.log.calls = append(o.log.calls, o.name)
	o.log.errs = append(o.log.errs, err)
	if o.during != nil {
		o.during()
	}
}

func (o *misuseOp) onIO(c *Completion, _ int, err error) { o.onErr(c, err) }

func (lg *misuseLog) wantCalls(t *testing.T, want ...string) {
	t.Helper()
	if len(lg.calls) != len(want) {
		t.Fatalf("callbacks %v, want %v", lg.calls, want)
	}
	for i := range want {
		if lg.calls[i] != want[i] {
			t.Fatalf("callbacks %v, want %v", lg.calls, want)
		}
		if lg.errs[i] != nil {
			t.Fatalf("callback %s got %v", lg.calls[i], lg.errs[i])
		}
	}
}

func TestMisuseResubmitPending(t *testing.T) {
	forEachBackend(t, Options{Entries: 2}, func(t *testing.T, l *Loop) {
		fds := newTestFDs(t, l)
		_, idle := fds.socketPair()
		lg := &misuseLog{l: l}
		buf := make([]byte, 8)

		// In the kernel: a Recv on an idle socket.
		recv := &misuseOp{name: "recv", log: lg}
		Recv(l, &recv.c, idle, buf, recv, (*misuseOp).onIO)
		startedInKernel(t, l)
		mustPanicWith(t, func() { Recv(l, &recv.c, idle, buf, recv, (*misuseOp).onIO) },
			"Recv", "still in flight", "wait for its callback")
		mustPanicWith(t, func() { Nop(l, &recv.c, recv, (*misuseOp).onErr) },
			"Nop", "still in flight", "by Recv")

		// Queued behind a full SQ (io_uring); the readiness backends have
		// no submission queue to fill, and take it in flight at once.
		fill := make([]misuseOp, 2)
		for i := range fill {
			fill[i] = misuseOp{name: "fill" + strconv.Itoa(i), log: lg}
			Nop(l, &fill[i].c, &fill[i], (*misuseOp).onErr)
		}
		queued := &misuseOp{name: "queued", log: lg}
		Nop(l, &queued.c, queued, (*misuseOp).onErr)
		wantState := "still in flight"
		if l.Backend() == BackendIOUring {
			wantState = "still queued for submission"
		}
		mustPanicWith(t, func() { Nop(l, &queued.c, queued, (*misuseOp).onErr) },
			wantState, "wait for its callback")

		// Completed, callback not run yet.
		tick := &misuseOp{name: "tick", log: lg}
		NextTick(l, &tick.c, tick, (*misuseOp).onErr)
		mustPanicWith(t, func() { Timeout(l, &tick.c, time.Second, tick, (*misuseOp).onErr) },
			"Timeout", "callback pending")

		// The rejected resubmissions changed nothing: each operation
		// completes once, and the Recv is still waiting.
		runUntil(t, l, 3*time.Second, func() bool { return len(lg.calls) == 4 })
		if err := l.RunFor(10 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// NextTick completes at submission, so its callback comes first.
		lg.wantCalls(t, "tick", "fill0", "fill1", "queued")
		if !recv.c.Pending() {
			t.Fatal("the in-flight Recv is no longer pending after a rejected resubmission")
		}
	})
}

func TestMisuseNilArguments(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		lg := &misuseLog{l: l}
		op := &misuseOp{name: "op", log: lg}
		mustPanicWith(t, func() { Nop(l, &op.c, op, nil) }, "Nop", "nil callback")
		mustPanicWith(t, func() { Recv(l, &op.c, 0, nil, op, nil) }, "Recv", "nil callback")
		mustPanicWith(t, func() { Timeout(l, &op.c, time.Millisecond, op, nil) }, "Timeout", "nil callback")
		mustPanicWith(t, func() { Nop(l, nil, op, (*misuseOp).onErr) }, "Nop", "nil *Completion")
		mustPanicWith(t, func() { Cancel(l, &op.c, nil, op, (*misuseOp).onErr) }, "Cancel", "nil target")
		mustPanicWith(t, func() { Cancel(l, &op.c, &op.c, op, (*misuseOp).onErr) }, "Cancel", "itself")
		other := newTestLoop(t, Options{})
		foreign := &misuseOp{name: "foreign", log: lg}
		Timeout(other, &foreign.c, time.Hour, foreign, (*misuseOp).onErr)
		mustPanicWith(t, func() { Cancel(l, &op.c, &foreign.c, op, (*misuseOp).onErr) }, "Cancel", "another Loop")

		// The Completion was left usable by every rejected submission.
		if op.c.Pending() {
			t.Fatal("a rejected submission left the Completion pending")
		}
		Nop(l, &op.c, op, (*misuseOp).onErr)
		runUntil(t, l, 3*time.Second, func() bool { return len(lg.calls) > 0 })
		lg.wantCalls(t, "op")
	})
}

// loopDrivers are the ways to drive a loop, for the misuse tests.
var loopDrivers = []struct {
	name  string
	drive func(l *Loop)
}{
	{"RunFor", func(l *Loop) { _ = l.RunFor(time.Millisecond) }},
	{"Tick", func(l *Loop) { _ = l.Tick() }},
	{"Run", func(l *Loop) { _ = l.Run() }},
	{"Close", func(l *Loop) { _ = l.Close() }},
}

// Driving the loop from inside a callback panics with a message naming the
// mistake, and the loop stays usable: the callbacks that had not run yet
// run on the next pass, exactly once, in order.
func TestMisuseDriveLoopFromCallback(t *testing.T) {
	for _, d := range loopDrivers {
		t.Run(d.name, func(t *testing.T) {
			forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
				lg := &misuseLog{l: l}
				ops := make([]*misuseOp, 5)
				var names []string
				for i := range ops {
					ops[i] = &misuseOp{name: "op" + strconv.Itoa(i), log: lg}
					names = append(names, ops[i].name)
				}
				ops[1].during = func() { d.drive(l) }
				for _, op := range ops {
					Nop(l, &op.c, op, (*misuseOp).onErr)
				}
				mustPanicWith(t, func() { _ = l.Run() }, d.name, "inside a callback")
				lg.wantCalls(t, names[:2]...)
				if got := l.Pending(); got != 3 {
					t.Fatalf("Pending() = %d after the panic, want the 3 callbacks that did not run", got)
				}
				ops[1].during = nil
				if err := l.Run(); err != nil {
					t.Fatal(err)
				}
				lg.wantCalls(t, names...)
				// New work still runs.
				Nop(l, &ops[1].c, ops[1], (*misuseOp).onErr)
				if err := l.Run(); err != nil {
					t.Fatal(err)
				}
				lg.wantCalls(t, append(names, "op1")...)
			})
		})
	}
}

// A callback that panics with its own error leaves the loop usable, and no
// completed operation loses its callback.
func TestPanicInCallbackLosesNothing(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		fds := newTestFDs(t, l)
		a, b := fds.socketPair()
		lg := &misuseLog{l: l}
		ops := make([]*misuseOp, 10)
		var names []string
		for i := range ops {
			ops[i] = &misuseOp{name: "op" + strconv.Itoa(i), log: lg}
			names = append(names, ops[i].name)
		}
		panics := 0
		for _, i := range []int{2, 6} {
			ops[i].during = func() {
				panics++
				panic("user bug " + strconv.Itoa(panics))
			}
		}
		// One of them is a Recv whose data is there, so that completions of
		// several kinds are queued when the panic unwinds.
		stressWrite(t, l, a, []byte("x"))
		buf := make([]byte, 1)
		for i, op := range ops {
			if i == 4 {
				Recv(l, &op.c, b, buf, op, (*misuseOp).onIO)
				continue
			}
			Nop(l, &op.c, op, (*misuseOp).onErr)
		}
		mustPanicWith(t, func() { runUntil(t, l, 3*time.Second, func() bool { return false }) }, "user bug 1")
		lg.wantCalls(t, names[:3]...)
		mustPanicWith(t, func() { _ = l.Run() }, "user bug 2")
		lg.wantCalls(t, names[:7]...)
		if err := l.Run(); err != nil {
			t.Fatal(err)
		}
		lg.wantCalls(t, names...)
		if buf[0] != 'x' {
			t.Fatalf("Recv got %q", buf)
		}
		if l.Pending() != 0 {
			t.Fatalf("Pending() = %d", l.Pending())
		}
		// The loop still does I/O.
		Recv(l, &ops[0].c, b, buf, ops[0], (*misuseOp).onIO)
		stressWrite(t, l, a, []byte("y"))
		runUntil(t, l, 3*time.Second, func() bool { return len(lg.calls) == len(names)+1 })
		if buf[0] != 'y' {
			t.Fatalf("Recv after the panics got %q", buf)
		}
	})
}

// A callback that resubmits unconditionally while the loop closes would
// keep Close busy forever; Close stops it with a panic that says so.
type stubbornOp struct {
	c     Completion
	l     *Loop
	calls int
	stop  bool
}

func (s *stubbornOp) onNop(c *Completion, _ error) {
	s.calls++
	if !s.stop {
		Nop(s.l, c, s, (*stubbornOp).onNop)
	}
}

func TestMisuseResubmitForeverDuringClose(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		s := &stubbornOp{l: l}
		Timeout(l, &s.c, time.Hour, s, (*stubbornOp).onNop)
		startedInKernel(t, l)
		mustPanicWith(t, func() { _ = l.Close() }, "keep submitting", "ErrClosed")
		if s.calls < maxCloseRounds {
			t.Fatalf("%d callbacks before the panic", s.calls)
		}
		s.stop = true
		if err := l.Close(); err != nil {
			t.Fatalf("Close after the callback stopped: %v", err)
		}
		if err := l.Close(); err != ErrClosed {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// A nil *Loop is named as the mistake, not a nil dereference.
func TestMisuseNilLoop(t *testing.T) {
	var c Completion
	op := &misuseOp{}
	mustPanicWith(t, func() { Nop(nil, &c, op, (*misuseOp).onErr) }, "Nop", "nil *Loop")
	mustPanicWith(t, func() { Timeout(nil, &c, time.Second, op, (*misuseOp).onErr) }, "Timeout", "nil *Loop")
	mustPanicWith(t, func() { _ = Post(nil, op, func(*misuseOp) {}) }, "Post", "nil *Loop")
	if c.Pending() {
		t.Fatal("a submission to a nil Loop left the Completion pending")
	}
}

// A second goroutine that drives the loop while its owner is inside a
// callback is told "another goroutine", not "inside a callback": the
// mistake is the second goroutine.
func TestMisuseDriveLoopFromSecondGoroutine(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for _, d := range loopDrivers {
			messages := make(chan string, 1)
			op := &misuseOp{name: d.name, log: &misuseLog{l: l}}
			op.during = func() {
				// The owner is inside this callback; another goroutine drives.
				go func() {
					defer func() { messages <- fmt.Sprint(recover()) }()
					d.drive(l)
				}()
				// Block the callback until the other goroutine has panicked.
				msg := <-messages
				messages <- msg
			}
			Nop(l, &op.c, op, (*misuseOp).onErr)
			if err := l.Run(); err != nil {
				t.Fatal(err)
			}
			msg := <-messages
			if !strings.Contains(msg, d.name) || !strings.Contains(msg, "another goroutine") {
				t.Errorf("%s from a second goroutine during a callback panicked with %q, want it to name another goroutine", d.name, msg)
			}
		}
	})
}
