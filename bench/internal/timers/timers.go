// Package timers schedules n timeouts, spread uniformly at random over a
// span, and lets them all fire: through ioloop's Timeout, or through Go's
// time.AfterFunc. It measures the cost per timer and how late they fire.
// Paced, an event-loop program schedules them a submission batch per pass;
// in a burst, all of them from one callback.
package timers

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/bench/internal/samples"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// Contenders of the timers workload.
var Contenders = []string{"ioloop-io_uring", "ioloop-epoll", "afterfunc"}

// Result is one run.
type Result struct {
	Burst         bool    `json:"burst"` // all scheduled from one callback
	Timers        int     `json:"timers"`
	SpanMs        float64 `json:"span_ms"`
	ScheduleMs    float64 `json:"schedule_ms"` // until every timer was handed over
	TotalMs       float64 `json:"total_ms"`    // until the last one fired
	CPUnsPerTimer float64 `json:"cpu_ns_per_timer"`
	LateP50us     float64 `json:"late_p50_us"`
	LateP99us     float64 `json:"late_p99_us"`
	LateMaxus     float64 `json:"late_max_us"`
	EarlyFires    int     `json:"early_fires"` // fired before their duration had passed: must be 0
	PeakRSSBytes  int64   `json:"peak_rss_bytes"`
}

// Run schedules n timers with durations uniform in [0, span) through impl
// and waits until all have fired. With burst, ioloop schedules them all
// from one callback (afterfunc: from one goroutine, as always), else
// ScheduleChunk per pass of the loop.
func Run(impl string, n int, span time.Duration, burst bool) (Result, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	delays := make([]time.Duration, n)
	for i := range delays {
		delays[i] = time.Duration(rng.Int64N(int64(span)))
	}
	late := make([]time.Duration, n) // how late each timer fired
	meter := proc.StartMeter()
	var scheduled time.Duration
	var err error
	chunk := ScheduleChunk
	if burst {
		chunk = n
	}
	switch impl {
	case "ioloop-io_uring":
		scheduled, err = runLoop(ioloop.BackendIOUring, delays, late, chunk)
	case "ioloop-epoll":
		scheduled, err = runLoop(ioloop.BackendEpoll, delays, late, chunk)
	case "afterfunc":
		scheduled, err = runAfterFunc(delays, late)
	default:
		err = fmt.Errorf("unknown timer contender %q (want one of %v)", impl, Contenders)
	}
	if err != nil {
		return Result{}, err
	}
	iv := meter.Stop()
	total, cpu := iv.Wall, iv.CPU.Total()
	res := Result{Burst: burst, Timers: n, SpanMs: ms(span), ScheduleMs: ms(scheduled), TotalMs: ms(total),
		CPUnsPerTimer: float64(cpu) / float64(n)}
	slices.Sort(late)
	res.EarlyFires, _ = slices.BinarySearch(late, 0) // the negative ones
	q := samples.Quantiles(late, 0.50, 0.99, 1)
	res.LateP50us, res.LateP99us, res.LateMaxus = us(q[0]), us(q[1]), us(q[2])
	res.PeakRSSBytes, err = proc.Memory(proc.Self, "VmHWM")
	return res, err
}

type loopTimer struct {
	op  ioloop.Completion
	due time.Duration // since the run's epoch
	out *time.Duration
	run *loopTimers
}

// loopTimers schedules its timers from inside the running loop, a chunk
// per pass, as an event-loop program schedules them from callbacks: the
// loop starts a timer's clock when it hands the timer to the kernel (or
// to its heap), so a timer queued long before the loop runs would be
// reported late by the time it waited in the queue.
type loopTimers struct {
	loop      *ioloop.Loop
	epoch     time.Time
	delays    []time.Duration
	late      []time.Duration
	ts        []loopTimer
	next      int
	chunk     int // timers scheduled per pass
	tick      ioloop.Completion
	scheduled time.Duration
	fired     int
	err       error
}

// ScheduleChunk is how many timers the paced run schedules per pass: a
// loop's submission batch (ioloop.DefaultEntries).
const ScheduleChunk = ioloop.DefaultEntries

func (t *loopTimer) onFire(_ *ioloop.Completion, err error) {
	if err != nil {
		t.run.err = err
	}
	*t.out = time.Since(t.run.epoch) - t.due
	t.run.fired++
}

// clockEvery is how often scheduling reads the clock: every timer's due
// time is its duration after the last reading before its call, so
// lateness is overstated, and an early fire missed, by at most the time
// clockEvery calls take (about 10 µs here), and the measurement does not
// add a clock read to every call.
const clockEvery = 32

func (r *loopTimers) scheduleMore(_ *ioloop.Completion, _ error) {
	end := min(r.next+r.chunk, len(r.ts))
	var now time.Duration
	for i := 0; r.next < end; r.next, i = r.next+1, i+1 {
		if i%clockEvery == 0 {
			now = time.Since(r.epoch)
		}
		t := &r.ts[r.next]
		d := r.delays[r.next]
		t.due, t.out, t.run = now+d, &r.late[r.next], r
		ioloop.Timeout(r.loop, &t.op, d, t, (*loopTimer).onFire)
	}
	if r.next < len(r.ts) {
		ioloop.NextTick(r.loop, &r.tick, r, (*loopTimers).scheduleMore)
	} else {
		r.scheduled = time.Since(r.epoch)
	}
}

// runLoop schedules the timers chunk per pass of the loop, from callbacks:
// the first chunk from the loop's first callback (a NextTick), each next
// from a NextTick of the previous one.
func runLoop(backend ioloop.Backend, delays, late []time.Duration, chunk int) (time.Duration, error) {
	loop, err := ioloop.New(ioloop.Options{Backend: backend})
	if err != nil {
		return 0, err
	}
	r := &loopTimers{loop: loop, delays: delays, late: late, ts: make([]loopTimer, len(delays)), chunk: chunk}
	// The timers' memory is written once before the clock starts, as a
	// program's Completions live in structures it has already made: the
	// first touch of fresh pages would otherwise be counted as scheduling.
	for i := range r.ts {
		r.ts[i].run = r
	}
	r.epoch = time.Now()
	ioloop.NextTick(r.loop, &r.tick, r, (*loopTimers).scheduleMore)
	err = loop.Run()
	if r.fired != len(delays) && err == nil {
		err = fmt.Errorf("%d of %d timers fired", r.fired, len(delays))
	}
	return r.scheduled, errors.Join(err, r.err, loop.Close())
}

// runAfterFunc is the standard library: one time.AfterFunc per timer. Go's
// timers live in per-P heaps serviced by the scheduler, and each expiry
// runs its function on a new goroutine.
func runAfterFunc(delays, late []time.Duration) (time.Duration, error) {
	epoch := time.Now()
	var fired atomic.Int64
	done := make(chan struct{})
	n := int64(len(delays))
	var now time.Duration
	for i, d := range delays {
		if i%clockEvery == 0 {
			now = time.Since(epoch)
		}
		due := now + d
		time.AfterFunc(d, func() {
			late[i] = time.Since(epoch) - due
			if fired.Add(1) == n {
				close(done)
			}
		})
	}
	scheduled := time.Since(epoch)
	select {
	case <-done:
		return scheduled, nil
	case <-time.After(time.Minute + 2*maxOf(delays)):
		return scheduled, fmt.Errorf("%d of %d timers fired", fired.Load(), n)
	}
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
func us(d time.Duration) float64 { return float64(d) / 1e3 }
