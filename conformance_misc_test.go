package ioloop

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// Conformance tests of the operations that are not about files or sockets
// in particular: Nop, NextTick, Timeout and Cancel.

// closingResubmitter submits op from its callback while the loop closes.
type closingResubmitter struct {
	loop   *Loop
	inner  Completion
	result opResult
	submit func(l *Loop, c *Completion, ctx *opResult, cb func(*opResult, *Completion, error))
}

func (s *closingResubmitter) onFirst(_ *Completion, err error) {
	s.submit(s.loop, &s.inner, &s.result, (*opResult).onErr)
}

func TestNop(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		var rs [3]opResult
		var cs [3]Completion
		for i := range cs {
			Nop(l, &cs[i], &rs[i], (*opResult).onErr)
		}
		if rs[0].calls != 0 {
			t.Fatal("Nop ran its callback synchronously")
		}
		if l.Pending() != 3 {
			t.Fatalf("Pending() = %d with 3 Nops submitted, want 3", l.Pending())
		}
		await(t, l, &rs[0], &rs[1], &rs[2])
		for i := range rs {
			wantOK(t, "Nop", &rs[i])
			if rs[i].c != &cs[i] {
				t.Fatalf("Nop %d: callback got another Completion", i)
			}
			if n, err := cs[i].Result(); n != 0 || err != nil {
				t.Fatalf("Nop %d: Result() = %d, %v", i, n, err)
			}
		}
		if l.Pending() != 0 {
			t.Fatalf("Pending() = %d after every callback ran, want 0", l.Pending())
		}
		if err := l.Run(); err != nil { // nothing pending: returns at once
			t.Fatal(err)
		}
	})
}

func TestNopAndNextTickDuringClose(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for _, op := range []struct {
			name   string
			submit func(l *Loop, c *Completion, ctx *opResult, cb func(*opResult, *Completion, error))
		}{
			{"Nop", Nop[opResult]},
			{"NextTick", NextTick[opResult]},
		} {
			t.Run(op.name, func(t *testing.T) {
				cl := newTestLoop(t, Options{Backend: l.Backend()})
				s := &closingResubmitter{loop: cl, submit: op.submit}
				var first Completion
				Timeout(cl, &first, time.Hour, s, (*closingResubmitter).onFirst)
				if err := cl.Tick(); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				if err := cl.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if time.Since(start) > waitLimit {
					t.Fatalf("Close took %v with a one-hour Timeout pending", time.Since(start))
				}
				wantErr(t, op.name+" submitted during Close", &s.result, ErrClosed)
				if err := cl.Close(); err != ErrClosed {
					t.Fatalf("second Close = %v, want ErrClosed", err)
				}
			})
		}
	})
}

// nextTicker counts passes: it reschedules itself until stopped.
type nextTicker struct {
	loop    *Loop
	c       Completion
	ticks   int
	stopped bool
	err     error
}

func (n *nextTicker) onTick(_ *Completion, err error) {
	if err != nil {
		n.err = err
		return
	}
	n.ticks++
	if !n.stopped {
		NextTick(n.loop, &n.c, n, (*nextTicker).onTick)
	}
}

// chainer submits a NextTick from the callback of a Nop.
type chainer struct {
	loop *Loop
	tick Completion
	next opResult
	nop  opResult
}

func (ch *chainer) onNop(c *Completion, err error) {
	ch.nop.onErr(c, err)
	NextTick(ch.loop, &ch.tick, &ch.next, (*opResult).onErr)
}

func TestNextTick(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		t.Run("next pass without the kernel", func(t *testing.T) {
			var rs [3]opResult
			var cs [3]Completion
			for i := range cs {
				NextTick(l, &cs[i], &rs[i], (*opResult).onErr)
			}
			if rs[0].calls != 0 {
				t.Fatal("NextTick ran its callback synchronously")
			}
			if l.Pending() != 3 {
				t.Fatalf("Pending() = %d, want 3", l.Pending())
			}
			// Nothing went to the backend: no kernel round trip.
			if l.pending != 0 || l.inflight.count != 0 {
				t.Fatalf("NextTick reached the backend: %d pending, %d in flight", l.pending, l.inflight.count)
			}
			if err := l.Tick(); err != nil {
				t.Fatal(err)
			}
			for i := range rs {
				wantOK(t, "NextTick", &rs[i])
				if rs[i].c != &cs[i] {
					t.Fatalf("NextTick %d: callback got another Completion", i)
				}
			}
			if !(rs[0].seq < rs[1].seq && rs[1].seq < rs[2].seq) {
				t.Fatalf("NextTick callbacks ran out of submission order: %d %d %d", rs[0].seq, rs[1].seq, rs[2].seq)
			}
		})
		t.Run("from a callback, runs on the following pass", func(t *testing.T) {
			ch := &chainer{loop: l}
			var c Completion
			Nop(l, &c, ch, (*chainer).onNop)
			for i := 0; !ch.nop.done(); i++ {
				if i > 100000 {
					t.Fatal("Nop did not complete within 100000 Ticks")
				}
				if err := l.Tick(); err != nil {
					t.Fatal(err)
				}
			}
			if ch.next.calls != 0 {
				t.Fatal("a NextTick submitted by a callback ran in the same pass")
			}
			if err := l.Tick(); err != nil {
				t.Fatal(err)
			}
			wantOK(t, "NextTick from a callback, on the next Tick", &ch.next)
		})
		t.Run("rescheduling itself does not starve others", func(t *testing.T) {
			client, server := tcpPair(t, l, loopback4)
			ticker := &nextTicker{loop: l}
			NextTick(l, &ticker.c, ticker, (*nextTicker).onTick)

			var timeout, recv, send opResult
			var tc, rc, sc Completion
			buf := make([]byte, 8)
			start := time.Now()
			Timeout(l, &tc, 20*time.Millisecond, &timeout, (*opResult).onErr)
			Recv(l, &rc, server, buf, &recv, (*opResult).onCount)
			Send(l, &sc, client, []byte("starve?"), &send, (*opResult).onCount)
			runUntil(t, l, waitLimit, func() bool { return timeout.done() && recv.done() && send.done() })
			elapsed := time.Since(start)
			ticker.stopped = true
			runUntil(t, l, waitLimit, func() bool { return !ticker.c.Pending() })

			wantOK(t, "Timeout beside a busy NextTick", &timeout)
			wantN(t, "Send beside a busy NextTick", &send, 7)
			wantN(t, "Recv beside a busy NextTick", &recv, 7)
			if string(buf[:7]) != "starve?" {
				t.Fatalf("Recv got %q", buf[:7])
			}
			if ticker.err != nil || ticker.ticks < 10 {
				t.Fatalf("self-rescheduling NextTick ran %d times (err %v) in %v; want it busy all along", ticker.ticks, ticker.err, elapsed)
			}
			t.Logf("%d NextTick passes while a 20 ms Timeout ran (%v)", ticker.ticks, elapsed)
		})
	})
}

func TestTimeout(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		t.Run("fires after d", func(t *testing.T) {
			const d = 30 * time.Millisecond
			var r opResult
			var c Completion
			start := l.Now()
			Timeout(l, &c, d, &r, (*opResult).onErr)
			await(t, l, &r)
			wantOK(t, "Timeout", &r)
			if elapsed := r.at.Sub(start); elapsed < d {
				t.Fatalf("Timeout(%v) fired after %v", d, elapsed)
			}
		})
		t.Run("d <= 0 fires promptly", func(t *testing.T) {
			for _, d := range []time.Duration{0, -time.Nanosecond, -time.Hour} {
				var r opResult
				var c Completion
				start := l.Now()
				Timeout(l, &c, d, &r, (*opResult).onErr)
				if r.calls != 0 {
					t.Fatalf("Timeout(%v) ran its callback synchronously", d)
				}
				await(t, l, &r)
				wantOK(t, "Timeout", &r)
				if elapsed := r.at.Sub(start); elapsed > time.Second {
					t.Fatalf("Timeout(%v) fired after %v", d, elapsed)
				}
			}
		})
		t.Run("in order of expiry", func(t *testing.T) {
			durations := []time.Duration{45 * time.Millisecond, 5 * time.Millisecond, 25 * time.Millisecond}
			var rs [3]opResult
			var cs [3]Completion
			start := l.Now()
			for i, d := range durations {
				Timeout(l, &cs[i], d, &rs[i], (*opResult).onErr)
			}
			await(t, l, &rs[0], &rs[1], &rs[2])
			for i, d := range durations {
				wantOK(t, "Timeout", &rs[i])
				if elapsed := rs[i].at.Sub(start); elapsed < d {
					t.Fatalf("Timeout(%v) fired after %v", d, elapsed)
				}
			}
			if !(rs[1].seq < rs[2].seq && rs[2].seq < rs[0].seq) {
				t.Fatalf("Timeouts fired out of order: 45ms at %v, 5ms at %v, 25ms at %v",
					rs[0].at.Sub(start), rs[1].at.Sub(start), rs[2].at.Sub(start))
			}
		})
		t.Run("canceled", func(t *testing.T) {
			var target, cancel opResult
			var tc, cc Completion
			start := time.Now()
			Timeout(l, &tc, time.Hour, &target, (*opResult).onErr)
			stillPending(t, l, 10*time.Millisecond, "one-hour Timeout", &target)
			Cancel(l, &cc, &tc, &cancel, (*opResult).onErr)
			await(t, l, &target, &cancel)
			wantOK(t, "Cancel of a Timeout", &cancel)
			wantErr(t, "canceled Timeout", &target, ErrCanceled)
			if !errors.Is(target.err, syscall.ECANCELED) {
				t.Fatalf("canceled Timeout: %v does not match ECANCELED", target.err)
			}
			if time.Since(start) > waitLimit {
				t.Fatal("the canceled Timeout took too long")
			}
		})
		t.Run("canceled by Close", func(t *testing.T) {
			cl := newTestLoop(t, Options{Backend: l.Backend()})
			var r opResult
			var c Completion
			Timeout(cl, &c, time.Hour, &r, (*opResult).onErr)
			if err := cl.Tick(); err != nil {
				t.Fatal(err)
			}
			if err := cl.Close(); err != nil {
				t.Fatal(err)
			}
			wantErr(t, "Timeout pending at Close", &r, ErrCanceled)
		})
	})
}

// cancelTarget starts one kind of long-running operation for TestCancel.
type cancelTarget struct {
	name  string
	start func(t *testing.T, l *Loop, c *Completion, r *opResult)
}

func cancelTargets() []cancelTarget {
	return []cancelTarget{
		{"Recv", func(t *testing.T, l *Loop, c *Completion, r *opResult) {
			_, server := tcpPair(t, l, loopback4)
			Recv(l, c, server, make([]byte, 16), r, (*opResult).onCount)
		}},
		{"Accept", func(t *testing.T, l *Loop, c *Completion, r *opResult) {
			lfd, _ := listenTCP(t, l, loopback4)
			Accept(l, c, lfd, r, (*opResult).onCount)
		}},
		{"Read from an empty pipe", func(t *testing.T, l *Loop, c *Completion, r *opResult) {
			needsKernel(t, l, "pipes")
			readEnd, _ := nonblockingPipe(t, l)
			Read(l, c, readEnd, make([]byte, 16), -1, r, (*opResult).onCount)
		}},
		{"Timeout", func(t *testing.T, l *Loop, c *Completion, r *opResult) {
			Timeout(l, c, time.Hour, r, (*opResult).onErr)
		}},
	}
}

func TestCancel(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for _, target := range cancelTargets() {
			t.Run("in-flight "+target.name, func(t *testing.T) {
				var tr, cr opResult
				var tc, cc Completion
				target.start(t, l, &tc, &tr)
				stillPending(t, l, 10*time.Millisecond, target.name, &tr)
				Cancel(l, &cc, &tc, &cr, (*opResult).onErr)
				if cr.calls != 0 {
					t.Fatal("Cancel ran its callback synchronously")
				}
				await(t, l, &tr, &cr)
				wantOK(t, "Cancel", &cr)
				wantErr(t, "canceled "+target.name, &tr, ErrCanceled)
				if !errors.Is(tr.err, syscall.ECANCELED) {
					t.Fatalf("canceled %s: %v does not match ECANCELED", target.name, tr.err)
				}
				if tr.err != ErrCanceled {
					t.Fatalf("canceled %s: err %v, want the ErrCanceled sentinel", target.name, tr.err)
				}
				// A failed Accept reports descriptor -1, never 0 (stdin).
				wantN := 0
				if target.name == "Accept" {
					wantN = -1
				}
				if tr.n != wantN {
					t.Fatalf("canceled %s: n=%d, want %d", target.name, tr.n, wantN)
				}
			})
		}

		t.Run("canceled Recv leaves the stream intact", func(t *testing.T) {
			client, server := tcpPair(t, l, loopback4)
			buf := make([]byte, 16)
			var tr, cr opResult
			var tc, cc Completion
			Recv(l, &tc, server, buf, &tr, (*opResult).onCount)
			stillPending(t, l, 10*time.Millisecond, "Recv", &tr)
			Cancel(l, &cc, &tc, &cr, (*opResult).onErr)
			await(t, l, &tr, &cr)
			wantErr(t, "canceled Recv", &tr, ErrCanceled)
			writeAll(t, l, client, []byte("after cancel"))
			tr = opResult{}
			Recv(l, &tc, server, buf, &tr, (*opResult).onCount)
			await(t, l, &tr)
			wantN(t, "Recv after a canceled Recv", &tr, 12)
			if string(buf[:12]) != "after cancel" {
				t.Fatalf("Recv got %q", buf[:12])
			}
		})

		t.Run("never submitted", func(t *testing.T) {
			var idle Completion
			var cr opResult
			var cc Completion
			Cancel(l, &cc, &idle, &cr, (*opResult).onErr)
			if cr.calls != 0 {
				t.Fatal("Cancel ran its callback synchronously")
			}
			await(t, l, &cr)
			wantErr(t, "Cancel of an idle Completion", &cr, ErrNotFound)
			if !errors.Is(cr.err, syscall.ENOENT) {
				t.Fatalf("%v does not match ENOENT", cr.err)
			}
		})

		t.Run("already completed", func(t *testing.T) {
			var tr, cr opResult
			var tc, cc Completion
			Nop(l, &tc, &tr, (*opResult).onErr)
			await(t, l, &tr)
			Cancel(l, &cc, &tc, &cr, (*opResult).onErr)
			await(t, l, &cr)
			wantErr(t, "Cancel after the target's callback", &cr, ErrNotFound)
			if tr.calls != 1 || tr.err != nil {
				t.Fatalf("target: calls=%d err=%v, want its own single result", tr.calls, tr.err)
			}
		})

		t.Run("result known, callback pending", func(t *testing.T) {
			var tr, cr opResult
			var tc, cc Completion
			NextTick(l, &tc, &tr, (*opResult).onErr) // completes at once
			Cancel(l, &cc, &tc, &cr, (*opResult).onErr)
			await(t, l, &tr, &cr)
			wantErr(t, "Cancel of a completed target", &cr, ErrNotFound)
			wantOK(t, "target with a pending callback", &tr)
		})

		t.Run("stale cancel after reuse", func(t *testing.T) {
			client, server := tcpPair(t, l, loopback4)
			re := &reuser{loop: l, fd: server, buf: make([]byte, 16)}
			var cr opResult
			var cc Completion
			// The Nop finishes in the kernel before the Cancel aimed at it
			// is processed; its callback reuses the Completion for a Recv.
			Nop(l, &re.c, re, (*reuser).onNop)
			Cancel(l, &cc, &re.c, &cr, (*opResult).onErr)
			await(t, l, &re.nop, &cr)
			wantOK(t, "Nop", &re.nop)
			wantErr(t, "Cancel that lost the race", &cr, ErrNotFound)
			if !re.c.Pending() {
				t.Fatal("the reused Completion is not pending")
			}
			stillPending(t, l, 20*time.Millisecond, "Recv on the reused Completion", &re.recv)
			writeAll(t, l, client, []byte("not canceled"))
			await(t, l, &re.recv)
			wantN(t, "Recv on the reused Completion", &re.recv, 12)
			if string(re.buf[:12]) != "not canceled" {
				t.Fatalf("Recv got %q", re.buf[:12])
			}
		})
	})
}

// reuser reuses its Completion from the Nop's callback for a Recv.
type reuser struct {
	loop *Loop
	fd   int
	buf  []byte
	c    Completion
	nop  opResult
	recv opResult
}

func (re *reuser) onNop(c *Completion, err error) {
	re.nop.onErr(c, err)
	Recv(re.loop, c, re.fd, re.buf, &re.recv, (*opResult).onCount)
}

func TestCancelQueued(t *testing.T) {
	// With a one-entry submission queue, the second operation waits in the
	// loop's overflow queue: Cancel takes it back without the kernel.
	forEachBackend(t, Options{Entries: 1}, func(t *testing.T, l *Loop) {
		var first, second, cr, fcr opResult
		var fc, sc, cc, fcc Completion
		Timeout(l, &fc, time.Hour, &first, (*opResult).onErr)
		Timeout(l, &sc, time.Hour, &second, (*opResult).onErr)
		Cancel(l, &cc, &sc, &cr, (*opResult).onErr)
		Cancel(l, &fcc, &fc, &fcr, (*opResult).onErr)
		await(t, l, &first, &second, &cr, &fcr)
		wantOK(t, "Cancel of the queued Timeout", &cr)
		wantErr(t, "queued Timeout", &second, ErrCanceled)
		wantOK(t, "Cancel of the first Timeout", &fcr)
		wantErr(t, "first Timeout", &first, ErrCanceled)
	})
}

func TestProgrammingErrorsPanic(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		wantPanic := func(what string, fn func()) {
			t.Helper()
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", what)
				}
			}()
			fn()
		}
		var r opResult
		var c Completion
		Timeout(l, &c, time.Hour, &r, (*opResult).onErr)
		wantPanic("resubmitting a pending Completion", func() { Nop(l, &c, &r, (*opResult).onErr) })
		wantPanic("a nil callback", func() { Nop[opResult](l, new(Completion), &r, nil) })
		wantPanic("Cancel with a nil target", func() { Cancel(l, new(Completion), nil, &r, (*opResult).onErr) })
		wantPanic("Cancel of itself", func() {
			self := new(Completion)
			Cancel(l, self, self, &r, (*opResult).onErr)
		})
		// Statx with a nil buffer: TestStatxNilBufferPanics (Linux only).
		// The pending Timeout is untouched by the failed resubmission.
		var cr opResult
		var cc Completion
		Cancel(l, &cc, &c, &cr, (*opResult).onErr)
		await(t, l, &r, &cr)
		wantErr(t, "Timeout after a rejected resubmission", &r, ErrCanceled)
	})
}

// deadlineTimer checks, in its callback, that the loop's clock has reached
// the deadline.
type deadlineTimer struct {
	l        *Loop
	deadline time.Time
	early    bool
	calls    int
	err      error
}

func (d *deadlineTimer) onFire(_ *Completion, err error) {
	d.calls++
	d.err = err
	d.early = d.l.Now().Before(d.deadline)
}

// TestTimeoutAt: an absolute deadline fires exactly once, never before the
// deadline on the loop's clock; one in the past fires on the next pass.
func TestTimeoutAt(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for _, ahead := range []time.Duration{15 * time.Millisecond, -time.Second} {
			d := &deadlineTimer{l: l, deadline: l.Now().Add(ahead)}
			var c Completion
			TimeoutAt(l, &c, d.deadline, d, (*deadlineTimer).onFire)
			if err := l.Run(); err != nil {
				t.Fatal(err)
			}
			if d.calls != 1 || d.err != nil || d.early {
				t.Fatalf("TimeoutAt(now%+v): %d callbacks, err %v, early %v; want one, nil, not early", ahead, d.calls, d.err, d.early)
			}
		}
	})
}
