//go:build linux || darwin || freebsd || netbsd || openbsd

package ioloop

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests of what only the readiness backends have (the worker pool, the
// timer heap, the fd table); the behaviour they share with io_uring is
// covered by the conformance suite (forEachBackend).

func newReadinessLoop(t *testing.T, opts Options) (*Loop, *readinessBackend) {
	t.Helper()
	opts.Backend = readinessBackendKind
	l := newTestLoop(t, opts)
	return l, l.backend.(*readinessBackend)
}

// blockingPipe returns a pipe whose ends block (O_NONBLOCK clear).
func blockingPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, p[0])
	closeOnCleanup(t, p[1])
	return p[0], p[1]
}

// asBlockingFile makes b take fd for a file (a slow device that blocks),
// which goes to the workers: a pipe's read end so classified keeps a
// worker busy until the test writes. (A pipe itself never goes to a
// worker: startReadWrite.)
func asBlockingFile(b *readinessBackend, fd int) {
	st := b.fdRecord(int32(fd))
	st.kind, st.blocking = fdKindFile, true
}

// waitForPool waits until the pool's workers have taken what they can:
// queued operations wait and workers exist.
func waitForPool(t *testing.T, b *readinessBackend, queued, workers int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.files.mu.Lock()
		gotQueued, gotWorkers := b.files.work.size, b.files.workers
		b.files.mu.Unlock()
		if gotQueued == queued && gotWorkers == workers {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool: %d queued, %d workers; want %d queued, %d workers", gotQueued, gotWorkers, queued, workers)
		}
		time.Sleep(time.Millisecond)
	}
}

// With FileWorkers = 2, two blocking Reads occupy both workers and the
// rest wait in the pool's queue: canceling a waiting one succeeds at once,
// canceling a running one answers EALREADY and lets it finish with its own
// result. That proves the bound and both cancel outcomes.
func TestFileWorkersBoundAndCancel(t *testing.T) {
	const workers, reads = 2, 6
	l, b := newReadinessLoop(t, Options{FileWorkers: workers})
	var rs [reads]opResult
	var cs [reads]Completion
	var writeEnds [reads]int
	bufs := make([][]byte, reads)
	for i := range reads {
		r, w := blockingPipe(t)
		asBlockingFile(b, r)
		writeEnds[i] = w
		bufs[i] = make([]byte, 8)
		Read(l, &cs[i], r, bufs[i], -1, &rs[i], (*opResult).onCount)
	}
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	waitForPool(t, b, reads-workers, workers)
	var cancelRs [reads]opResult
	var cancelCs [reads]Completion
	for i := range reads {
		Cancel(l, &cancelCs[i], &cs[i], &cancelRs[i], (*opResult).onErr)
	}
	queuedResults := make([]*opResult, 0, reads)
	for i := workers; i < reads; i++ {
		queuedResults = append(queuedResults, &cancelRs[i], &rs[i])
	}
	await(t, l, queuedResults...)
	for i := workers; i < reads; i++ {
		wantOK(t, "Cancel of a queued Read", &cancelRs[i])
		wantErr(t, "queued Read", &rs[i], ErrCanceled)
	}
	await(t, l, &cancelRs[0], &cancelRs[1])
	for i := range workers {
		wantErr(t, "Cancel of a running Read", &cancelRs[i], syscall.EALREADY)
		stillPending(t, l, time.Millisecond, "running Read", &rs[i])
		writeAll(t, nil, writeEnds[i], []byte("go"))
	}
	await(t, l, &rs[0], &rs[1])
	for i := range workers {
		wantN(t, "running Read", &rs[i], 2)
	}
}

// Close waits for operations running on workers, delivers their results,
// and leaves no worker goroutine behind.
func TestCloseStopsFileWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	l, b := newReadinessLoop(t, Options{FileWorkers: 4})
	r, w := blockingPipe(t)
	asBlockingFile(b, r)
	var running opResult
	var c Completion
	Read(l, &c, r, make([]byte, 4), -1, &running, (*opResult).onCount)
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	waitForPool(t, b, 0, 1) // the blocking Read runs
	_, fd := tempFile(t, nil, pattern(1<<16, 1))
	var reads [16]opResult
	var readCs [16]Completion
	for i := range reads {
		Read(l, &readCs[i], fd, make([]byte, 4096), int64(i)*4096, &reads[i], (*opResult).onCount)
	}
	if err := l.Tick(); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, func() { unix.Write(w, []byte("late")) })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if running.calls != 1 || running.err != nil || running.n != 4 {
		t.Fatalf("running Read: calls=%d n=%d err=%v; want its own result", running.calls, running.n, running.err)
	}
	for i := range reads {
		if reads[i].calls != 1 || (reads[i].err != nil && !errors.Is(reads[i].err, ErrCanceled)) {
			t.Fatalf("Read %d: calls=%d err=%v", i, reads[i].calls, reads[i].err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before: workers leaked", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

// The timer heap pops in deadline order, ties in push order, with
// arbitrary removals in between.
func TestTimerHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h timerHeap
	completions := make([]Completion, 500)
	deadlines := map[*Completion]int64{}
	order := map[*Completion]int{}
	for i := range completions {
		c := &completions[i]
		deadline := int64(rng.IntN(50))
		deadlines[c], order[c] = deadline, i
		h.push(c, deadline)
	}
	for i := 0; i < len(completions); i += 3 {
		h.remove(&completions[i])
		delete(deadlines, &completions[i])
	}
	lastDeadline, lastOrder := int64(-1), -1
	for count := 0; ; count++ {
		c := h.popExpired(1 << 62)
		if c == nil {
			if count != len(deadlines) {
				t.Fatalf("popped %d timers, want %d", count, len(deadlines))
			}
			return
		}
		d, ok := deadlines[c]
		if !ok {
			t.Fatal("a removed timer came back")
		}
		if d < lastDeadline || (d == lastDeadline && order[c] < lastOrder) {
			t.Fatalf("timer (deadline %d, #%d) after (deadline %d, #%d)", d, order[c], lastDeadline, lastOrder)
		}
		lastDeadline, lastOrder = d, order[c]
	}
}

// Reads and Writes on a non-blocking pipe that is not ready wait for
// readiness (as on io_uring) instead of failing with EAGAIN.
func TestNonblockingPipeWaits(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "pipes")
		var p [2]int
		if err := testPipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		closeOnCleanup(t, p[0])
		closeOnCleanup(t, p[1])
		// Fill the pipe so that a Write must wait too.
		filler := make([]byte, 1<<20)
		filled, _ := unix.Write(p[1], filler)
		var wr, rd opResult
		var wc, rc Completion
		Write(l, &wc, p[1], []byte("tail"), -1, &wr, (*opResult).onCount)
		stillPending(t, l, 10*time.Millisecond, "Write to a full pipe", &wr)
		drained := readAllNonblocking(t, nil, p[0], filled)
		if len(drained) != filled {
			t.Fatalf("drained %d of %d", len(drained), filled)
		}
		await(t, l, &wr)
		wantN(t, "Write once the pipe drained", &wr, 4)
		buf := make([]byte, 4)
		Read(l, &rc, p[0], buf, -1, &rd, (*opResult).onCount)
		await(t, l, &rd)
		wantN(t, "Read", &rd, 4)
		rd = opResult{}
		Read(l, &rc, p[0], buf, -1, &rd, (*opResult).onCount)
		stillPending(t, l, 10*time.Millisecond, "Read from an empty pipe", &rd)
		writeAll(t, nil, p[1], []byte("more"))
		await(t, l, &rd)
		wantN(t, "Read once written", &rd, 4)
	})
}

// With GOMAXPROCS=1, a program that polls with Tick in a tight loop must
// still let the file workers run: a non-blocking pass with file work
// outstanding yields. Without that, the Read below completes only when the
// runtime preempts the polling goroutine (about 10 ms: many thousands of
// Ticks).
func TestTickYieldsToFileWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	l, _ := newReadinessLoop(t, Options{})
	_, fd := tempFile(t, nil, pattern(4096, 3))
	buf := make([]byte, 4096)
	const maxTicks = 1000
	for round := range 20 {
		var r opResult
		var c Completion
		Read(l, &c, fd, buf, 0, &r, (*opResult).onCount)
		ticks := 0
		for r.calls == 0 && ticks < maxTicks {
			if err := l.Tick(); err != nil {
				t.Fatal(err)
			}
			ticks++
		}
		if r.calls == 0 {
			t.Fatalf("round %d: Read still pending after %d Ticks with GOMAXPROCS=1", round, maxTicks)
		}
		wantN(t, "Read", &r, 4096)
	}
}
