package ioloop

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRemoteWorkRace is the race-detector test: 8 goroutines
// trigger Events and post work into the 2 loops of a Group for 10 s under
// -race (2 s without, 1 s with -short), while the posted functions message
// the other loop and trigger its Events. It checks that every Post that
// returned nil ran exactly once, on its loop's thread (the loops' threads
// are locked, so the thread id identifies the loop), in each producer's
// order; that a Post or Message that failed never ran; that the n of the
// WaitEvent callbacks add up to the Triggers of each Event; and that
// Shutdown leaves no goroutine and no file descriptor behind.
func TestRemoteWorkRace(t *testing.T) {
	d := 2 * time.Second
	switch {
	case testing.Short():
		d = time.Second
	case raceEnabled:
		d = 10 * time.Second
	}
	for _, backend := range kernelTestBackends() {
		t.Run(backend.String(), func(t *testing.T) {
			run := d
			if backend == BackendEpoll {
				run /= 2 // the same code paths; io_uring gets the full time
			}
			runRemoteRace(t, backend, run)
		})
	}
}

const (
	raceProducers       = 8
	raceLoops           = 2
	raceEventsPerLoop   = 4
	racePostsPerProd    = 1 << 17 // bounds the bookkeeping; producers then only trigger
	raceMessageEvery    = 4       // a posted function with seq%raceMessageEvery == 0 messages the other loop
	raceCrossTrigEvery  = 8       // ... with seq%raceCrossTrigEvery == 1 triggers an Event of the other loop
	raceInboxEntries    = 64      // small, so that ErrQueueFull happens
	raceQuiesceDeadline = 20 * time.Second
)

type raceTest struct {
	t        *testing.T
	loops    [raceLoops]*raceLoop
	prods    [raceProducers]*raceProducer
	stopping atomic.Bool // set before the quiesce: posted functions stop triggering

	failures atomic.Int64
	mu       sync.Mutex
	first    []string
}

// fail records a failure seen on any goroutine; the test reports it.
func (rt *raceTest) fail(format string, args ...any) {
	if rt.failures.Add(1) > 10 {
		return
	}
	rt.mu.Lock()
	rt.first = append(rt.first, fmt.Sprintf(format, args...))
	rt.mu.Unlock()
}

// raceLoop is one loop's state. The plain fields are touched only on the
// loop's goroutine: if a function ran on the wrong loop, the race detector
// (and the thread id check) would say so.
type raceLoop struct {
	rt    *raceTest
	index int
	l     *Loop
	tid   int

	postsRun int
	lastSeq  [raceProducers]uint32 // per producer, the last seq run here (seqs start at 1)
	msgsIn   int
	msgsOut  []*raceMsg // every Message this loop sent, accepted or not
	eventN   int        // sum of n over this loop's WaitEvent callbacks
	barriers atomic.Int32

	waiters [raceEventsPerLoop]*raceWaiter
}

func (rl *raceLoop) onThread(what string) bool {
	if tid := osThreadID(); tid != rl.tid { // both 0 where osThreadID knows none
		rl.rt.fail("%s ran on thread %d, want loop %d's thread %d", what, tid, rl.index, rl.tid)
		return false
	}
	return true
}

type raceWaiter struct {
	rl       *raceLoop
	e        *Event
	c        Completion
	triggers atomic.Int64 // Trigger calls, counted before each call
	total    atomic.Int64 // sum of n
	canceled int          // ErrCanceled callbacks (loop goroutine; read after Shutdown)
	others   int          // callbacks with any other error
}

func (w *raceWaiter) wait() { WaitEvent(w.rl.l, &w.c, w.e, w, (*raceWaiter).onEvent) }

func (w *raceWaiter) onEvent(_ *Completion, n int, err error) {
	if !w.rl.onThread("a WaitEvent callback") {
		return
	}
	switch {
	case errors.Is(err, ErrCanceled):
		w.canceled++
		return
	case err != nil:
		w.others++
		return
	case n < 1:
		w.rl.rt.fail("WaitEvent reported n = %d", n)
	}
	w.rl.eventN += n
	w.total.Add(int64(n))
	w.wait()
}

// raceProducer posts with increasing sequence numbers; items[seq-1] is the
// bookkeeping of its seq-th Post.
type raceProducer struct {
	index     int
	items     []racePost
	posted    int // items used
	accepted  [raceLoops]int
	queueFull int
	triggers  int
}

type racePost struct {
	rt       *raceTest
	producer uint16
	loop     uint16
	seq      uint32
	ran      atomic.Int32
	accepted bool // written by the producer after Post; read after Shutdown
}

func (p *racePost) run() {
	rl := p.rt.loops[p.loop]
	if !rl.onThread("a posted function") {
		return
	}
	if n := p.ran.Add(1); n != 1 {
		rl.rt.fail("posted function %d/%d ran %d times", p.producer, p.seq, n)
	}
	rl.postsRun++
	if last := rl.lastSeq[p.producer]; p.seq <= last {
		rl.rt.fail("loop %d ran producer %d's seq %d after seq %d", rl.index, p.producer, p.seq, last)
	}
	rl.lastSeq[p.producer] = p.seq
	other := rl.rt.loops[1-rl.index]
	if p.seq%raceMessageEvery == 0 {
		rl.message(other, false)
	}
	if p.seq%raceCrossTrigEvery == 1 && !rl.rt.stopping.Load() {
		w := other.waiters[int(p.seq/raceCrossTrigEvery)%raceEventsPerLoop]
		w.triggers.Add(1)
		w.e.Trigger()
	}
}

// raceMsg is one Message between the loops.
type raceMsg struct {
	rt       *raceTest
	from, to int
	reply    bool
	ran      atomic.Int32
	err      error // Message's result, written by the sender after the call
}

func (rl *raceLoop) message(to *raceLoop, reply bool) {
	m := &raceMsg{rt: rl.rt, from: rl.index, to: to.index, reply: reply}
	m.err = Message(rl.l, to.l, m, (*raceMsg).run)
	rl.msgsOut = append(rl.msgsOut, m)
}

func (m *raceMsg) run() {
	rl := m.rt.loops[m.to]
	if !rl.onThread("a Message") {
		return
	}
	if n := m.ran.Add(1); n != 1 {
		rl.rt.fail("a Message ran %d times", n)
	}
	rl.msgsIn++
	if !m.reply {
		rl.message(m.rt.loops[m.from], true)
	}
}

func (rl *raceLoop) barrier() { rl.barriers.Add(1) }

func runRemoteRace(t *testing.T, backend Backend, d time.Duration) {
	goroutinesBefore := runtime.NumGoroutine()
	fdsBefore := openFDs(t)
	rt := &raceTest{t: t}
	g, err := StartGroup(GroupOptions{Loops: raceLoops, Loop: Options{Backend: backend, InboxEntries: raceInboxEntries}},
		func(l *Loop, i int) error {
			rl := &raceLoop{rt: rt, index: i, l: l, tid: osThreadID()}
			rt.loops[i] = rl
			for j := range rl.waiters {
				w := &raceWaiter{rl: rl, e: NewEvent(l)}
				rl.waiters[j] = w
				w.wait()
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rt.prods {
		rt.prods[i] = &raceProducer{index: i, items: make([]racePost, racePostsPerProd)}
	}

	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for _, p := range rt.prods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt.produce(p, deadline)
		}()
	}
	wg.Wait()

	// Quiesce: a barrier posted to each loop runs after every function the
	// producers posted (FIFO), so no posted function triggers after it;
	// then every Trigger must be delivered to a WaitEvent.
	rt.stopping.Store(true)
	quiesceBy := time.Now().Add(raceQuiesceDeadline)
	for _, rl := range rt.loops {
		for {
			err := Post(rl.l, rl, (*raceLoop).barrier)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrQueueFull) || time.Now().After(quiesceBy) {
				t.Fatalf("posting the barrier: %v", err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	delivered := func() bool {
		for _, rl := range rt.loops {
			if rl.barriers.Load() == 0 {
				return false
			}
			for _, w := range rl.waiters {
				if w.total.Load() != w.triggers.Load() {
					return false
				}
			}
		}
		return true
	}
	for !delivered() {
		if time.Now().After(quiesceBy) {
			t.Fatalf("triggers not delivered within %v of the producers' end", raceQuiesceDeadline)
		}
		time.Sleep(time.Millisecond)
	}

	if err := g.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	rt.mu.Lock()
	for _, f := range rt.first {
		t.Error(f)
	}
	rt.mu.Unlock()
	if n := rt.failures.Load(); n > 0 {
		t.Fatalf("%d failures on the loops' goroutines (first ones above)", n)
	}

	// Posts: exactly the accepted ones ran, once each, on their loop.
	var accepted, queueFull, triggers [raceLoops]int
	totalQueueFull, totalPosts, totalTriggers := 0, 0, 0
	for _, p := range rt.prods {
		for i := range p.items[:p.posted] {
			it := &p.items[i]
			ran := it.ran.Load()
			switch {
			case it.accepted && ran != 1:
				t.Fatalf("producer %d's seq %d: Post returned nil, function ran %d times", p.index, it.seq, ran)
			case !it.accepted && ran != 0:
				t.Fatalf("producer %d's seq %d: Post returned ErrQueueFull, function ran %d times", p.index, it.seq, ran)
			}
			if it.accepted {
				accepted[it.loop]++
			} else {
				queueFull[it.loop]++
			}
		}
		if p.accepted[0]+p.accepted[1]+p.queueFull != p.posted {
			t.Fatalf("producer %d: bookkeeping off", p.index)
		}
		totalQueueFull += p.queueFull
		totalPosts += p.posted
		totalTriggers += p.triggers
	}
	for i, rl := range rt.loops {
		if rl.postsRun != accepted[i] {
			t.Fatalf("loop %d ran %d posted functions, %d were accepted", i, rl.postsRun, accepted[i])
		}
		if rl.barriers.Load() != 1 {
			t.Fatalf("loop %d ran its barrier %d times", i, rl.barriers.Load())
		}
		// Events: the n of the callbacks add up to the Triggers, and the
		// pending WaitEvent was canceled once by Close.
		for j, w := range rl.waiters {
			triggers[i] += int(w.triggers.Load())
			if w.total.Load() != w.triggers.Load() {
				t.Fatalf("loop %d event %d: callbacks counted %d triggers, %d were made", i, j, w.total.Load(), w.triggers.Load())
			}
			if w.canceled != 1 || w.others != 0 {
				t.Fatalf("loop %d event %d: %d ErrCanceled callbacks and %d other errors after Shutdown, want 1 and 0",
					i, j, w.canceled, w.others)
			}
		}
		if rl.eventN != triggers[i] {
			t.Fatalf("loop %d: callbacks counted %d triggers in all, %d were made", i, rl.eventN, triggers[i])
		}
	}
	// Messages: exactly the accepted ones ran, once each.
	msgsAccepted := [raceLoops]int{}
	msgsRefused := map[string]int{}
	for _, rl := range rt.loops {
		for _, m := range rl.msgsOut {
			ran := m.ran.Load()
			switch {
			case m.err == nil && ran != 1:
				t.Fatalf("a Message %d->%d returned nil, ran %d times", m.from, m.to, ran)
			case m.err != nil && ran != 0:
				t.Fatalf("a Message %d->%d returned %v, ran %d times", m.from, m.to, m.err, ran)
			case m.err != nil && !errors.Is(m.err, ErrQueueFull) && !errors.Is(m.err, ErrClosed):
				t.Fatalf("a Message returned %v", m.err)
			}
			if m.err == nil {
				msgsAccepted[m.to]++
			} else {
				msgsRefused[m.err.Error()]++
			}
		}
	}
	for i, rl := range rt.loops {
		if rl.msgsIn != msgsAccepted[i] {
			t.Fatalf("loop %d ran %d Messages, %d were accepted", i, rl.msgsIn, msgsAccepted[i])
		}
	}
	if accepted[0] == 0 || accepted[1] == 0 || rt.loops[0].msgsIn == 0 || rt.loops[1].msgsIn == 0 ||
		rt.loops[0].eventN == 0 || rt.loops[1].eventN == 0 {
		t.Fatalf("a loop did no work: posts %v, messages %d/%d, triggers %d/%d",
			accepted, rt.loops[0].msgsIn, rt.loops[1].msgsIn, rt.loops[0].eventN, rt.loops[1].eventN)
	}
	t.Logf("%v: %d Posts (%d accepted per loop, %d ErrQueueFull), %d producer Triggers, %v Triggers delivered per loop, Messages run %d/%d, refused %v",
		d, totalPosts, accepted, totalQueueFull, totalTriggers, triggers, rt.loops[0].msgsIn, rt.loops[1].msgsIn, msgsRefused)

	waitGoroutines(t, goroutinesBefore)
	checkNoFDLeak(t, fdsBefore, openFDs(t))
}

// produce posts and triggers at random until the deadline.
func (rt *raceTest) produce(p *raceProducer, deadline time.Time) {
	rng := rand.New(rand.NewPCG(uint64(p.index), 0x5eed))
	for i := 0; ; i++ {
		if i%64 == 0 {
			if time.Now().After(deadline) {
				return
			}
			if i%256 == 0 {
				time.Sleep(20 * time.Microsecond) // let the loops fall asleep now and then
			}
		}
		r := rng.IntN(8)
		if r < 2 || p.posted == len(p.items) {
			rl := rt.loops[rng.IntN(raceLoops)]
			w := rl.waiters[rng.IntN(raceEventsPerLoop)]
			w.triggers.Add(1)
			w.e.Trigger()
			p.triggers++
			continue
		}
		loop := rng.IntN(raceLoops)
		it := &p.items[p.posted]
		p.posted++
		it.rt, it.producer, it.loop, it.seq = rt, uint16(p.index), uint16(loop), uint32(p.posted)
		switch err := Post(rt.loops[loop].l, it, (*racePost).run); {
		case err == nil:
			it.accepted = true
			p.accepted[loop]++
		case errors.Is(err, ErrQueueFull):
			p.queueFull++
			time.Sleep(10 * time.Microsecond) // back off, as a real producer would
		default:
			rt.fail("Post: %v", err)
			return
		}
	}
}

// waitGoroutines fails unless the number of goroutines drops back to
// before within a few seconds (exiting goroutines take a moment).
func waitGoroutines(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines left, %d before:\n%s", n, before, buf)
	}
}
