package ioloop

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The Linux-only parts of group_shutdown_test.go: an epoll file worker's
// retry, CPU pinning (sched_getaffinity) and io_uring's LockedThread.

// TestCloseWithPipeReadRetryPending closes an epoll loop while a Read of
// an empty non-blocking descriptor taken for a file (a pipe stands in for
// a non-blocking device) has been tried by a file worker (EAGAIN) but not
// yet collected by the loop. Close must cancel it rather than park it for
// readiness that never comes (which would block Close forever).
func TestCloseWithPipeReadRetryPending(t *testing.T) {
	l := newTestLoop(t, Options{Backend: BackendEpoll})
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, p[0])
	closeOnCleanup(t, p[1])
	o := &shutOp{name: "Read"}
	var buf [16]byte
	Read(l, &o.c, p[0], buf[:], -1, o, (*shutOp).onCount)
	rb := l.backend.(*readinessBackend)
	rb.fdRecord(int32(p[0])).kind = fdKindFile // a real pipe never goes to a worker
	rb.startQueued()                           // hand it to a worker without collecting the result
	deadline := time.Now().Add(5 * time.Second)
	for rb.files.doneCount.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the worker never tried the Read")
		}
		time.Sleep(100 * time.Microsecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Close blocked on a Read of an empty pipe")
		unix.Write(p[1], []byte("x")) // let it finish
		<-closed
	}
	if o.calls != 1 || !errors.Is(o.err, ErrCanceled) {
		t.Fatalf("Read: %d callbacks, n %d, err %v; want one with ErrCanceled", o.calls, o.n, o.err)
	}
}

// TestGroupPinCPUs pins each loop's thread to one CPU and checks, on the
// thread itself, that its affinity is exactly that CPU, and that two loops
// get different CPUs when the process may use two.
func TestGroupPinCPUs(t *testing.T) {
	allowed, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	const loops = 2
	var cpus [loops]int
	var counts [loops]int
	g, err := StartGroup(GroupOptions{Loops: loops, PinCPUs: true}, func(l *Loop, i int) error {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return err
		}
		counts[i] = set.Count()
		cpus[i] = -1
		for cpu := 0; cpu < len(set)*64; cpu++ {
			if set.IsSet(cpu) {
				cpus[i] = cpu
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for i := range loops {
		if counts[i] != 1 {
			t.Fatalf("loop %d's thread may run on %d CPUs, want exactly 1", i, counts[i])
		}
		if want := allowed[i%len(allowed)]; cpus[i] != want {
			t.Fatalf("loop %d pinned to CPU %d, want %d (allowed %v)", i, cpus[i], want, allowed)
		}
	}
	if len(allowed) >= 2 && cpus[0] == cpus[1] {
		t.Fatalf("both loops pinned to CPU %d although %v are allowed", cpus[0], allowed)
	}
	t.Logf("allowed CPUs %v; loops pinned to %v", allowed, cpus)
	// The test's own thread is not affected.
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	if set.Count() != len(allowed) {
		t.Fatalf("the test's thread may now run on %d CPUs, want %d", set.Count(), len(allowed))
	}
}

// TestLockedThreadMisuse creates a LockedThread io_uring loop on one locked
// goroutine, drives it from another thread (which panics with a message
// naming the mistake), then closes it from its own thread.
func TestLockedThreadMisuse(t *testing.T) {
	type result struct {
		l   *Loop
		err error
	}
	created := make(chan result)
	closeIt := make(chan struct{})
	closed := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		l, err := New(Options{Backend: BackendIOUring, LockedThread: true})
		created <- result{l, err}
		if err != nil {
			return
		}
		<-closeIt
		closed <- l.Close()
	}()
	r := <-created
	if r.err != nil {
		t.Fatal(r.err)
	}
	l := r.l
	if !uringOf(l).singleIssuer {
		close(closeIt)
		<-closed
		t.Skip("the kernel lacks IORING_SETUP_SINGLE_ISSUER")
	}
	runtime.LockOSThread() // another thread than the creator's, for sure
	defer runtime.UnlockOSThread()
	var c Completion
	o := &shutOp{name: "Nop"}
	Nop(l, &c, o, (*shutOp).onErr)
	mustPanicWith(t, func() { _ = l.RunFor(10 * time.Millisecond) },
		"Options.LockedThread", "driven from another OS thread", "runtime.LockOSThread")
	close(closeIt)
	if err := <-closed; err != nil {
		t.Fatalf("Close from the creating thread: %v", err)
	}
	if o.calls != 1 {
		t.Fatalf("the Nop got %d callbacks, want 1", o.calls)
	}
	t.Logf("the Nop completed with %v", o.err)
}
