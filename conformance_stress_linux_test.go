package ioloop

import (
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Linux-only part of conformance_stress_test.go: signals aimed at the loop's
// thread (tgkill) and its wakeups counted in /proc.

// ---------------------------------------------------------------------------
// 3. Signals interrupting the wait (EINTR).

type timeoutProbe struct {
	calls int
	err   error
	at    time.Time
}

func (p *timeoutProbe) onTimeout(_ *Completion, err error) {
	p.calls++
	p.err = err
	p.at = time.Now()
}

// threadWakeups returns the voluntary context switches of thread tid: each
// time a blocked io_uring_enter wakes up, it grows by one.
func threadWakeups(t *testing.T, tid int) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		t.Fatalf("reading thread status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if value, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil {
				t.Fatalf("parsing %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatal("no voluntary_ctxt_switches in thread status")
	return 0
}

func TestEINTRDuringWait(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sig     syscall.Signal
		handled bool // installed with signal.Notify, as a program would
	}{
		{"SIGURG", syscall.SIGURG, false},
		{"SIGUSR1", syscall.SIGUSR1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
				needsKernel(t, l, "signals interrupting the loop's wait in the kernel")
				if tc.handled {
					ch := make(chan os.Signal, 1)
					signal.Notify(ch, tc.sig)
					consumed := make(chan struct{})
					go func() {
						for {
							select {
							case <-ch:
							case <-consumed:
								return
							}
						}
					}()
					defer func() {
						signal.Stop(ch)
						close(consumed)
					}()
				}
				// Pin the loop to this thread and signal exactly it, so
				// that the signals land in its io_uring_enter rather than
				// in some idle thread of the process.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				pid, tid := unix.Getpid(), unix.Gettid()

				stop := make(chan struct{})
				sent := make(chan int)
				go func() {
					n := 0
					tick := time.NewTicker(time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							sent <- n
							return
						case <-tick.C:
							if unix.Tgkill(pid, tid, tc.sig) == nil {
								n++
							}
						}
					}
				}()

				const d = 300 * time.Millisecond
				var p timeoutProbe
				var c Completion
				wakeupsBefore := threadWakeups(t, tid)
				start := time.Now()
				Timeout(l, &c, d, &p, (*timeoutProbe).onTimeout)
				err := l.RunFor(time.Second)
				elapsed := time.Since(start)
				wakeups := threadWakeups(t, tid) - wakeupsBefore
				close(stop)
				signals := <-sent

				if err != nil {
					t.Fatalf("RunFor returned %v while signals arrived; EINTR must be absorbed", err)
				}
				if p.calls != 1 || p.err != nil {
					t.Fatalf("timeout callback ran %d times, err %v; want once, nil", p.calls, p.err)
				}
				if fired := p.at.Sub(start); fired < d {
					t.Fatalf("timeout fired after %v, before its %v", fired, d)
				}
				if elapsed < time.Second || elapsed > 3*time.Second {
					t.Fatalf("RunFor(1s) returned after %v", elapsed)
				}
				t.Logf("%d signals sent, loop thread woke %d times", signals, wakeups)
				if signals < 100 {
					t.Fatalf("only %d signals sent; the test did not exercise EINTR", signals)
				}
				// Without signals the thread wakes a handful of times; every
				// interrupted io_uring_enter adds one.
				if wakeups < 20 {
					t.Fatalf("loop thread woke only %d times for %d signals: the signals did not interrupt the wait", wakeups, signals)
				}
			})
		})
	}
}
