//go:build darwin || freebsd || netbsd || openbsd

package poller

import (
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Unit tests of the kqueue poller against the contract in poller.go. The
// loop-level behaviour is covered by the conformance suite.

func newTestPoller(t *testing.T, capacity int) *Poller {
	t.Helper()
	p := new(Poller)
	if err := p.Open(capacity); err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p
}

// pollerEvent is one event as event(i) reports it.
type pollerEvent struct {
	fd                 int
	readable, writable bool
}

// waitEvents waits up to timeout and returns the events.
func waitEvents(t *testing.T, p *Poller, timeout time.Duration) []pollerEvent {
	t.Helper()
	n, err := p.Wait(int64(timeout))
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	events := make([]pollerEvent, n)
	for i := range events {
		fd, r, w := p.Event(i)
		events[i] = pollerEvent{fd, r, w}
	}
	return events
}

func testSocketPair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			t.Fatal(err)
		}
	}
	closeOnCleanup(t, fds[0])
	closeOnCleanup(t, fds[1])
	return fds[0], fds[1]
}

func TestKqueuePollerWake(t *testing.T) {
	p := newTestPoller(t, 4)
	if events := waitEvents(t, p, 0); len(events) != 0 {
		t.Fatalf("idle poller reported %v", events)
	}
	// Wakes before a wait coalesce into one wakeup, which the wait consumes.
	p.Wake()
	p.Wake()
	events := waitEvents(t, p, time.Second)
	if len(events) != 1 || events[0].fd != -1 {
		t.Fatalf("after two wakes: %v, want one wakeup (fd -1)", events)
	}
	if events := waitEvents(t, p, 0); len(events) != 0 {
		t.Fatalf("the wakeup was not consumed: %v", events)
	}
	// A wake from another goroutine ends a wait without limit.
	go func() {
		time.Sleep(10 * time.Millisecond)
		p.Wake()
	}()
	if events := waitEvents(t, p, -1); len(events) != 1 || events[0].fd != -1 {
		t.Fatalf("wait(-1) woken by another goroutine: %v", events)
	}
}

func TestKqueuePollerTimeout(t *testing.T) {
	p := newTestPoller(t, 4)
	start := time.Now()
	if events := waitEvents(t, p, 20*time.Millisecond); len(events) != 0 {
		t.Fatalf("idle wait reported %v", events)
	}
	if elapsed := time.Since(start); elapsed < 15*time.Millisecond {
		t.Fatalf("wait(20ms) returned after %v", elapsed)
	}
}

func TestKqueuePollerOneShotReadWrite(t *testing.T) {
	p := newTestPoller(t, 4)
	a, b := testSocketPair(t)
	var s State
	if errno := p.Arm(a, &s, true, false); errno != 0 {
		t.Fatalf("arm: %v", errno)
	}
	if !s.Registered || !s.ArmedRead || s.ArmedWrite {
		t.Fatalf("after arm(read): %+v", s)
	}
	if events := waitEvents(t, p, 0); len(events) != 0 {
		t.Fatalf("nothing to read yet, got %v", events)
	}
	if _, err := unix.Write(b, []byte("x")); err != nil {
		t.Fatal(err)
	}
	events := waitEvents(t, p, time.Second)
	if len(events) != 1 || events[0] != (pollerEvent{a, true, false}) {
		t.Fatalf("after a write by the peer: %v, want %d readable", events, a)
	}
	// One-shot: no further report until armed again, although the data
	// is still there.
	if events := waitEvents(t, p, 0); len(events) != 0 {
		t.Fatalf("a one-shot filter reported twice: %v", events)
	}
	s.ArmedRead, s.ArmedWrite = false, false // what the loop does on an event
	if errno := p.Arm(a, &s, true, true); errno != 0 {
		t.Fatalf("arm: %v", errno)
	}
	got := map[pollerEvent]bool{}
	for _, e := range waitEvents(t, p, time.Second) {
		got[e] = true
	}
	if !got[pollerEvent{a, true, false}] || !got[pollerEvent{a, false, true}] {
		t.Fatalf("re-armed for both directions: %v, want readable and writable", got)
	}
}

func TestKqueuePollerEOF(t *testing.T) {
	p := newTestPoller(t, 4)
	a, b := testSocketPair(t)
	var s State
	p.Arm(a, &s, true, false)
	if err := unix.Shutdown(b, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	events := waitEvents(t, p, time.Second)
	if len(events) != 1 || events[0] != (pollerEvent{a, true, true}) {
		t.Fatalf("after the peer's shutdown: %v, want %d readable and writable", events, a)
	}
}

// A change the kernel refuses comes back as an event saying readable and
// writable; arming again at once returns the kernel's error.
func TestKqueuePollerRefusedChange(t *testing.T) {
	p := newTestPoller(t, 4)
	var pipe [2]int
	if err := unix.Pipe(pipe[:]); err != nil {
		t.Fatal(err)
	}
	unix.Close(pipe[1])
	closed := pipe[0]
	unix.Close(closed) // behind the poller's back
	var s State
	if errno := p.Arm(closed, &s, true, false); errno != 0 {
		t.Fatalf("arm is deferred and cannot fail yet: %v", errno)
	}
	events := waitEvents(t, p, 0)
	if len(events) != 1 || events[0] != (pollerEvent{closed, true, true}) {
		t.Fatalf("refused change: %v, want %d readable and writable", events, closed)
	}
	s.ArmedRead, s.ArmedWrite = false, false
	if errno := p.Arm(closed, &s, true, false); errno != syscall.EBADF {
		t.Fatalf("arm after a refusal = %v, want EBADF", errno)
	}
}

// More changes than the event list holds are applied early, and a failure
// among them is reported by the next wait.
func TestKqueuePollerEarlyFlush(t *testing.T) {
	p := newTestPoller(t, 2)
	var states [4]State
	var fds [4]int
	for i := range fds {
		a, b := testSocketPair(t)
		fds[i] = a
		if _, err := unix.Write(b, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	var pipe [2]int
	if err := unix.Pipe(pipe[:]); err != nil {
		t.Fatal(err)
	}
	unix.Close(pipe[1])
	unix.Close(pipe[0])
	var closedState State
	p.Arm(pipe[0], &closedState, true, false)
	for i, fd := range fds {
		if errno := p.Arm(fd, &states[i], true, false); errno != 0 {
			t.Fatalf("arm: %v", errno)
		}
	}
	got := map[pollerEvent]bool{}
	for i := 0; i < 10 && len(got) < len(fds)+1; i++ {
		for _, e := range waitEvents(t, p, 100*time.Millisecond) {
			if got[e] {
				t.Fatalf("event %v reported twice", e)
			}
			got[e] = true
		}
	}
	for _, fd := range fds {
		if !got[pollerEvent{fd, true, false}] {
			t.Errorf("fd %d: no readable event in %v", fd, got)
		}
	}
	if !got[pollerEvent{pipe[0], true, true}] {
		t.Errorf("the refused change for fd %d was not reported: %v", pipe[0], got)
	}
}

// forget drops changes not handed to the kernel yet.
func TestKqueuePollerForget(t *testing.T) {
	p := newTestPoller(t, 4)
	a, b := testSocketPair(t)
	if _, err := unix.Write(b, []byte("x")); err != nil {
		t.Fatal(err)
	}
	var s State
	p.Arm(a, &s, true, true)
	p.Forget(a, &s)
	if s != (State{}) {
		t.Fatalf("forget left %+v", s)
	}
	if events := waitEvents(t, p, 0); len(events) != 0 {
		t.Fatalf("a forgotten fd reported %v", events)
	}
}

func closeOnCleanup(t *testing.T, fd int) {
	t.Helper()
	t.Cleanup(func() { unix.Close(fd) })
}
