package ioloop

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Shutdown and Close with work in flight of every kind, and Post into a
// full inbox (group_shutdown_linux_test.go has CPU pinning and
// LockedThread misuse).

// shutOp is one operation left pending at shutdown; the callback records
// what it got and on which thread.
type shutOp struct {
	name  string
	c     Completion
	calls int
	n     int
	err   error
	tid   int
}

func (o *shutOp) onCount(_ *Completion, n int, err error) {
	o.calls++
	o.n, o.err, o.tid = n, err, osThreadID()
}

func (o *shutOp) onErr(_ *Completion, err error) { o.onCount(nil, 0, err) }

// shutPost is a posted function (or Message) whose result is known only
// after the shutdown.
type shutPost struct {
	w    *shutWork // the loop it must run on
	err  error     // Post's or Message's result
	runs atomic.Int32
	tid  atomic.Int64
	op   shutOp // a NextTick it submits while running (during Close: ErrClosed)
}

func (p *shutPost) run() {
	p.runs.Add(1)
	p.tid.Store(int64(osThreadID()))
	NextTick(p.w.l, &p.op.c, &p.op, (*shutOp).onErr)
}

// shutWork is one loop's pending work.
type shutWork struct {
	t     testing.TB
	l     *Loop
	tid   int // 0: not checked (the loop is not on a locked thread)
	ops   []*shutOp
	fds   []int
	ev    *Event
	bufs  [8][64]byte
	mu    sync.Mutex // guards posts, appended to from several goroutines
	posts []*shutPost
}

func (w *shutWork) op(name string) *shutOp {
	o := &shutOp{name: name}
	w.ops = append(w.ops, o)
	return o
}

// submitAll leaves one operation of each kind pending that nothing will
// complete: Recv on idle sockets, 1-hour Timeouts, an Accept nobody
// connects to, a WaitEvent never triggered, and a Read of an empty pipe
// (where the system has pipes the loop can use: not on Windows).
// It runs on the loop's goroutine.
func (w *shutWork) submitAll() error {
	l := w.l
	for i := range 2 {
		fds, err := idleStreamPair()
		if err != nil {
			return err
		}
		w.fds = append(w.fds, fds[0], fds[1])
		o := w.op(fmt.Sprintf("Recv %d", i))
		Recv(l, &o.c, fds[0], w.bufs[i][:], o, (*shutOp).onCount)
	}
	for i := range 3 {
		o := w.op(fmt.Sprintf("Timeout %d", i))
		Timeout(l, &o.c, time.Hour, o, (*shutOp).onErr)
	}
	lfd, _, err := ListenTCP(loopback4, ListenOptions{})
	if err != nil {
		return err
	}
	w.fds = append(w.fds, lfd)
	o := w.op("Accept")
	Accept(l, &o.c, lfd, o, (*shutOp).onCount)
	w.ev = NewEvent(l)
	o = w.op("WaitEvent")
	WaitEvent(l, &o.c, w.ev, o, (*shutOp).onCount)
	if p, ok, err := idlePipe(); err != nil {
		return err
	} else if ok {
		w.fds = append(w.fds, p[0], p[1])
		o = w.op("Read of a pipe")
		Read(l, &o.c, p[0], w.bufs[7][:], -1, o, (*shutOp).onCount)
	}
	return nil
}

// post posts (or, with from, messages) a shutPost to w's loop and records
// it.
func (w *shutWork) post(from *Loop) *shutPost {
	p := &shutPost{w: w}
	if from != nil {
		p.err = Message(from, w.l, p, (*shutPost).run)
	} else {
		p.err = Post(w.l, p, (*shutPost).run)
	}
	w.mu.Lock()
	w.posts = append(w.posts, p)
	w.mu.Unlock()
	return p
}

// check verifies, after the loop closed, that every operation got exactly
// one callback (ErrCanceled: nothing completed them), that every accepted
// Post or Message ran once (and its NextTick, submitted during Close, got
// ErrClosed) and every refused one never ran.
func (w *shutWork) check(t testing.TB) (accepted, refused int) {
	t.Helper()
	for _, o := range w.ops {
		if o.calls != 1 || !errors.Is(o.err, ErrCanceled) {
			t.Errorf("%s: %d callbacks, err %v; want one with ErrCanceled", o.name, o.calls, o.err)
		}
		if w.tid != 0 && o.tid != w.tid {
			t.Errorf("%s: callback on thread %d, want the loop's %d", o.name, o.tid, w.tid)
		}
	}
	for _, p := range w.posts {
		runs := p.runs.Load()
		switch {
		case p.err == nil && runs != 1:
			t.Errorf("an accepted Post/Message ran %d times", runs)
		case p.err != nil && runs != 0:
			t.Errorf("a Post/Message refused with %v ran %d times", p.err, runs)
		case p.err != nil && !errors.Is(p.err, ErrClosed) && !errors.Is(p.err, ErrQueueFull):
			t.Errorf("Post/Message: %v", p.err)
		}
		if p.err != nil {
			refused++
			continue
		}
		accepted++
		if w.tid != 0 && int(p.tid.Load()) != w.tid {
			t.Errorf("a posted function ran on thread %d, want the loop's %d", p.tid.Load(), w.tid)
		}
		if p.op.calls != 1 || (p.op.err != nil && !errors.Is(p.op.err, ErrClosed)) {
			t.Errorf("the NextTick of a posted function: %d callbacks, err %v", p.op.calls, p.op.err)
		}
	}
	if w.l.Pending() != 0 {
		t.Errorf("Pending() = %d after Close", w.l.Pending())
	}
	return accepted, refused
}

func (w *shutWork) closeFDs() {
	for _, fd := range w.fds {
		_ = sysCloseFD(fd)
	}
	w.fds = nil
}

// TestGroupShutdownWithWorkInFlight shuts a Group of 2 down while each
// loop has operations of every kind pending, functions posted to it and
// Messages from the other loop queued but not run (posted by the Stopping
// hook, after the loops stopped running), and another goroutine posting
// into both until they refuse. Every operation gets exactly one callback,
// every accepted function runs once on its loop's thread, and nothing
// leaks.
func TestGroupShutdownWithWorkInFlight(t *testing.T) {
	for _, backend := range kernelTestBackends() {
		t.Run(backend.String(), func(t *testing.T) {
			goroutinesBefore := runtime.NumGoroutine()
			fdsBefore := openFDs(t)
			var works [2]*shutWork
			defer func() {
				for _, w := range works {
					if w != nil {
						w.closeFDs()
					}
				}
			}()
			const queuedPerLoop = 16
			g, err := StartGroup(GroupOptions{Loops: 2, Loop: Options{Backend: backend},
				Stopping: func(l *Loop, i int) {
					self, other := works[i], works[1-i]
					for range queuedPerLoop {
						self.post(nil)
						other.post(nil)
						other.post(l) // a Message to the other loop
					}
					o := self.op("Timeout submitted by Stopping")
					Timeout(l, &o.c, time.Hour, o, (*shutOp).onErr)
				}},
				func(l *Loop, i int) error {
					works[i] = &shutWork{t: t, l: l, tid: osThreadID()}
					return works[i].submitAll()
				})
			if err != nil {
				t.Fatal(err)
			}
			// Two passes of each loop: everything reached the kernel.
			for range 2 {
				for _, w := range works {
					p := w.post(nil)
					deadline := time.Now().Add(5 * time.Second)
					for p.runs.Load() == 0 {
						if time.Now().After(deadline) {
							t.Fatal("a posted function did not run")
						}
						time.Sleep(100 * time.Microsecond)
					}
				}
			}
			// Another goroutine posts into both loops through the shutdown.
			posterDone := make(chan struct{})
			go func() {
				defer close(posterDone)
				for closed := 0; closed < 2; {
					closed = 0
					for _, w := range works {
						if p := w.post(nil); errors.Is(p.err, ErrClosed) {
							closed++
						}
					}
					runtime.Gosched()
				}
			}()
			if err := g.Shutdown(); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			select {
			case <-posterDone:
			case <-time.After(5 * time.Second):
				t.Fatal("Post kept succeeding after Shutdown")
			}
			for i, w := range works {
				accepted, refused := w.check(t)
				if accepted < 2+3*queuedPerLoop || refused == 0 {
					t.Errorf("loop %d: %d accepted and %d refused posts; want at least %d and 1", i, accepted, refused, 2+3*queuedPerLoop)
				}
			}
			for _, w := range works {
				w.closeFDs()
			}
			waitGoroutines(t, goroutinesBefore)
			checkNoFDLeak(t, fdsBefore, openFDs(t))
		})
	}
}

// TestCloseWithWorkInFlight is the same for a single loop driven by the
// test: operations of every kind pending, functions posted from another
// goroutine and Messages from a peer loop queued, then Close.
func TestCloseWithWorkInFlight(t *testing.T) {
	for _, backend := range kernelTestBackends() {
		t.Run(backend.String(), func(t *testing.T) {
			goroutinesBefore := runtime.NumGoroutine()
			fdsBefore := openFDs(t)
			l, err := New(Options{Backend: backend})
			if err != nil {
				t.Fatal(err)
			}
			peer, err := New(Options{Backend: backend})
			if err != nil {
				t.Fatal(err)
			}
			w := &shutWork{t: t, l: l}
			defer w.closeFDs()
			if err := w.submitAll(); err != nil {
				t.Fatal(err)
			}
			for range 3 { // into the kernel (and the worker pool, on epoll)
				if err := l.RunFor(time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 32 {
					w.post(nil)
				}
			}()
			wg.Wait()
			for range 32 {
				w.post(peer)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if accepted, refused := w.check(t); accepted != 64 || refused != 0 {
				t.Errorf("%d accepted and %d refused, want 64 and 0", accepted, refused)
			}
			if err := peer.Close(); err != nil {
				t.Fatal(err)
			}
			w.closeFDs()
			waitGoroutines(t, goroutinesBefore)
			checkNoFDLeak(t, fdsBefore, openFDs(t))
		})
	}
}

// fifoItem is one Post of a producer into a full inbox.
type fifoItem struct {
	rec      *fifoRecord
	producer int
	seq      int
}

type fifoRecord struct {
	next  []int // per producer, the seq expected next
	runs  int
	wrong int
}

func (it *fifoItem) run() {
	r := it.rec
	r.runs++
	if r.next[it.producer] != it.seq {
		r.wrong++
	}
	r.next[it.producer] = it.seq + 1
}

// TestPostFullInboxFIFO has several goroutines post into a small inbox
// before the loop runs, so that they meet ErrQueueFull, and retry each
// refused Post until it is accepted. Each producer's functions must run
// exactly once each and in its order, with none lost or repeated.
func TestPostFullInboxFIFO(t *testing.T) {
	forEachBackend(t, Options{InboxEntries: 8}, func(t *testing.T, l *Loop) {
		const producers, perProducer = 4, 2000
		rec := &fifoRecord{next: make([]int, producers)}
		items := make([][]fifoItem, producers)
		var queueFull atomic.Int64
		var wg sync.WaitGroup
		for p := range producers {
			items[p] = make([]fifoItem, perProducer)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := range perProducer {
					it := &items[p][seq]
					*it = fifoItem{rec: rec, producer: p, seq: seq}
					for {
						err := Post(l, it, (*fifoItem).run)
						if err == nil {
							break
						}
						if !errors.Is(err, ErrQueueFull) {
							t.Errorf("Post: %v", err)
							return
						}
						queueFull.Add(1)
						runtime.Gosched()
					}
				}
			}()
		}
		// The loop has not run: the producers fill the 8 entries and then
		// meet ErrQueueFull.
		deadline := time.Now().Add(5 * time.Second)
		for queueFull.Load() < producers {
			if time.Now().After(deadline) {
				t.Fatalf("only %d ErrQueueFull before the loop ran", queueFull.Load())
			}
			time.Sleep(100 * time.Microsecond)
		}
		runUntil(t, l, 30*time.Second, func() bool { return rec.runs == producers*perProducer })
		wg.Wait()
		if err := l.RunFor(time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if rec.runs != producers*perProducer || rec.wrong != 0 {
			t.Fatalf("%d functions ran (want %d), %d out of order", rec.runs, producers*perProducer, rec.wrong)
		}
		for p, next := range rec.next {
			if next != perProducer {
				t.Fatalf("producer %d: last function run was %d, want %d", p, next-1, perProducer-1)
			}
		}
		t.Logf("%d ErrQueueFull", queueFull.Load())
	})
}
