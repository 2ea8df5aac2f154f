package ioloop

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// resultPointers points at each of rs, for await.
func resultPointers(rs []opResult) []*opResult {
	ps := make([]*opResult, len(rs))
	for i := range rs {
		ps[i] = &rs[i]
	}
	return ps
}

// opDelta is how much the counts of op grew from before to after.
func opDelta(before, after Stats, name string) OpCounts {
	b, a := before.Op(name), after.Op(name)
	return OpCounts{Submitted: a.Submitted - b.Submitted, Completed: a.Completed - b.Completed}
}

// TestStatsCountsOperations submits N Nops and K Recvs and checks, on
// every backend, that each kind is counted once at submission and once at
// its callback, that in-flight operations are counted as such, and that
// the loop entered the kernel (or polled its world) to run them.
func TestStatsCountsOperations(t *testing.T) {
	const nops, recvs = 10, 3
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopbacks(t, l)[0])
		before := l.Stats()
		if before.InFlight != 0 {
			t.Fatalf("InFlight = %d with nothing submitted", before.InFlight)
		}
		var nopResults [nops]opResult
		var nopCompletions [nops]Completion
		for i := range nopCompletions {
			Nop(l, &nopCompletions[i], &nopResults[i], (*opResult).onErr)
		}
		var recvResults [recvs]opResult
		var recvCompletions [recvs]Completion
		var bufs [recvs][1]byte
		for i := range recvCompletions {
			Recv(l, &recvCompletions[i], server, bufs[i][:], &recvResults[i], (*opResult).onCount)
		}
		submitted := l.Stats()
		if got := opDelta(before, submitted, "Nop"); got != (OpCounts{Submitted: nops}) {
			t.Errorf("Nop counts after submitting %d: %+v", nops, got)
		}
		if got := opDelta(before, submitted, "Recv"); got != (OpCounts{Submitted: recvs}) {
			t.Errorf("Recv counts after submitting %d: %+v", recvs, got)
		}
		if submitted.InFlight != nops+recvs {
			t.Errorf("InFlight = %d, want %d", submitted.InFlight, nops+recvs)
		}
		await(t, l, resultPointers(nopResults[:])...)
		waiting := l.Stats()
		if got := opDelta(before, waiting, "Recv"); got != (OpCounts{Submitted: recvs}) {
			t.Errorf("Recv counts with no data sent: %+v, want %d submitted and none completed", got, recvs)
		}
		if waiting.InFlight != recvs {
			t.Errorf("InFlight = %d with the Recvs waiting, want %d", waiting.InFlight, recvs)
		}
		writeAll(t, l, client, []byte(strings.Repeat("x", recvs)))
		await(t, l, resultPointers(recvResults[:])...)
		after := l.Stats()
		if got := opDelta(before, after, "Nop"); got != (OpCounts{Submitted: nops, Completed: nops}) {
			t.Errorf("Nop counts at the end: %+v, want %d and %d", got, nops, nops)
		}
		if got := opDelta(before, after, "Recv"); got != (OpCounts{Submitted: recvs, Completed: recvs}) {
			t.Errorf("Recv counts at the end: %+v, want %d and %d", got, recvs, recvs)
		}
		// The simulator's writeAll runs operations of its own: Total counts them too.
		var sum OpCounts
		for _, c := range after.Ops {
			sum.Submitted += c.Submitted
			sum.Completed += c.Completed
		}
		if total := after.Total(); total != sum || total.Submitted < before.Total().Submitted+nops+recvs {
			t.Errorf("Total = %+v, the sum of Ops %+v; it was %+v before %d operations", total, sum, before.Total(), nops+recvs)
		}
		if after.InFlight != 0 {
			t.Errorf("InFlight = %d after every callback ran", after.InFlight)
		}
		if after.KernelEnters <= before.KernelEnters {
			t.Errorf("KernelEnters went from %d to %d while operations ran", before.KernelEnters, after.KernelEnters)
		}
		if got := after.Op("NoSuchOperation"); got != (OpCounts{}) {
			t.Errorf("Op of an unknown name = %+v, want zero", got)
		}
		if after.PoolBuffersFree != 0 {
			t.Errorf("PoolBuffersFree = %d without pools", after.PoolBuffersFree)
		}
	})
}

// TestStatsCountsRejectedSubmissions: a submission whose arguments are
// rejected before the kernel still counts as submitted and completed.
func TestStatsCountsRejectedSubmissions(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		before := l.Stats()
		var r opResult
		var c Completion
		OpenAt(l, &c, sysAT_FDCWD, "bad\x00path", 0, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		if r.err == nil {
			t.Fatalf("OpenAt of a path with a NUL succeeded")
		}
		if got := opDelta(before, l.Stats(), "OpenAt"); got != (OpCounts{Submitted: 1, Completed: 1}) {
			t.Errorf("OpenAt counts: %+v, want 1 and 1", got)
		}
	})
}

// TestOpNames: every operation's name leads back to it.
func TestOpNames(t *testing.T) {
	for op := opcode(1); int(op) < len(opcodeNames); op++ {
		got, ok := OpByName(op.String())
		if !ok || got != Op(op) || Op(op).String() != op.String() {
			t.Errorf("OpByName(%q) = %d, %v; want %d", op.String(), got, ok, op)
		}
	}
	for _, name := range []string{"none", "invalid", "", "nop"} {
		if op, ok := OpByName(name); ok {
			t.Errorf("OpByName(%q) = %d, want none", name, op)
		}
	}
	if got := Op(NumOps - 1).String(); got != "invalid" {
		t.Errorf("Op(NumOps-1).String() = %q, want invalid", got)
	}
}

// TestStatsOverflow fills the queue of submissions that wait for the
// kernel: on io_uring, a tiny submission ring sends what does not fit to
// the overflow FIFO; on the readiness backends and the simulator every
// submission waits in the queue until the next pass starts it
// (docs/ARCHITECTURE.md, "Where the backends differ").
func TestStatsOverflow(t *testing.T) {
	const entries, nops = 4, 20
	forEachBackend(t, Options{Entries: entries}, func(t *testing.T, l *Loop) {
		wantDepth := nops
		if l.Backend() == BackendIOUring {
			wantDepth = nops - entries
		}
		var results [nops]opResult
		var completions [nops]Completion
		for i := range completions {
			Nop(l, &completions[i], &results[i], (*opResult).onErr)
		}
		if s := l.Stats(); s.OverflowDepth != wantDepth || s.OverflowHighWater != wantDepth {
			t.Errorf("after %d submissions: OverflowDepth = %d, OverflowHighWater = %d; want %d and %d",
				nops, s.OverflowDepth, s.OverflowHighWater, wantDepth, wantDepth)
		}
		await(t, l, resultPointers(results[:])...)
		if s := l.Stats(); s.OverflowDepth != 0 || s.OverflowHighWater != wantDepth {
			t.Errorf("after the callbacks: OverflowDepth = %d, OverflowHighWater = %d; want 0 and %d",
				s.OverflowDepth, s.OverflowHighWater, wantDepth)
		}
	})
}

// TestStatsTimersPending counts pending Timeouts, also when one is canceled.
func TestStatsTimersPending(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		var timers [3]Completion
		var timerResults [3]opResult
		for i := range timers {
			Timeout(l, &timers[i], time.Hour, &timerResults[i], (*opResult).onErr)
		}
		if err := l.Tick(); err != nil {
			t.Fatal(err)
		}
		if s := l.Stats(); s.TimersPending != 3 || s.InFlight != 3 {
			t.Errorf("TimersPending = %d, InFlight = %d; want 3 and 3", s.TimersPending, s.InFlight)
		}
		var cancel Completion
		var cancelResult opResult
		Cancel(l, &cancel, &timers[1], &cancelResult, (*opResult).onErr)
		await(t, l, &cancelResult, &timerResults[1])
		wantErr(t, "the canceled Timeout", &timerResults[1], ErrCanceled)
		if s := l.Stats(); s.TimersPending != 2 {
			t.Errorf("TimersPending = %d after a Cancel, want 2", s.TimersPending)
		}
	})
}

type statsPostCounter struct{ runs int }

func (p *statsPostCounter) run() { p.runs++ }

// TestStatsInboxDepth counts posted functions until the loop runs them,
// and reads a running loop's counters the documented way: through Post,
// from another goroutine.
func TestStatsInboxDepth(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		var counter statsPostCounter
		for range 5 {
			if err := Post(l, &counter, (*statsPostCounter).run); err != nil {
				t.Fatal(err)
			}
		}
		if s := l.Stats(); s.InboxDepth != 5 {
			t.Errorf("InboxDepth = %d with 5 functions posted, want 5", s.InboxDepth)
		}
		if err := l.Tick(); err != nil {
			t.Fatal(err)
		}
		if s := l.Stats(); s.InboxDepth != 0 || counter.runs != 5 {
			t.Errorf("InboxDepth = %d after %d of 5 posted functions ran, want 0", s.InboxDepth, counter.runs)
		}

		snapshots := make(chan Stats, 1)
		go func() {
			type reader struct {
				l   *Loop
				out chan Stats
			}
			if err := Post(l, &reader{l, snapshots}, func(r *reader) { r.out <- r.l.Stats() }); err != nil {
				t.Error(err)
				close(snapshots)
			}
		}()
		var got Stats
		runUntil(t, l, waitLimit, func() bool {
			select {
			case got = <-snapshots:
				return true
			default:
				return false
			}
		})
		if got.InboxDepth != 0 || got.Ops[0] != (OpCounts{}) {
			t.Errorf("snapshot taken through Post: %+v", got)
		}
	})
}

// TestStatsFromAnotherGoroutinePanics: a running loop's counters belong
// to its goroutine; reading them from another panics with a message
// saying how to read them instead.
func TestStatsFromAnotherGoroutinePanics(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		if l.Backend() == BackendSimulator {
			t.Skip("the simulator's loops run on the world's goroutine, and a RunFor with nothing to do returns at once")
		}
		e := NewEvent(l)
		var wait Completion
		var waitResult opResult
		WaitEvent(l, &wait, e, &waitResult, (*opResult).onCount)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l.running.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, "Stats called from another goroutine while the Loop is running") {
					t.Errorf("Stats from another goroutine: recovered %q", msg)
				}
				e.Trigger()
				l.Stop()
			}()
			_ = l.Stats()
		}()
		if err := l.RunFor(waitLimit); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		await(t, l, &waitResult)
	})
}

// statsInCallback calls Stats from a callback and measures its
// allocations there.
type statsInCallback struct {
	l      *Loop
	allocs float64
	nops   uint64
	ran    bool
}

func (s *statsInCallback) onNop(*Completion, error) {
	s.ran = true
	s.allocs = testing.AllocsPerRun(100, func() {
		st := s.l.Stats()
		s.nops = st.Op("Nop").Completed
	})
}

// TestStatsAllocatesNothing: Stats allocates nothing, between passes or
// from a callback, on every backend.
func TestStatsAllocatesNothing(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		var sink Stats
		if allocs := testing.AllocsPerRun(100, func() { sink = l.Stats() }); allocs != 0 {
			t.Errorf("Stats between passes: %v allocations, want 0", allocs)
		}
		_ = sink
		s := &statsInCallback{l: l}
		var c Completion
		Nop(l, &c, s, (*statsInCallback).onNop)
		runUntil(t, l, waitLimit, func() bool { return s.ran })
		if s.allocs != 0 {
			t.Errorf("Stats from a callback: %v allocations, want 0", s.allocs)
		}
		if s.nops != 1 {
			t.Errorf("Stats from the Nop's callback counted %d completed Nops, want 1 (its own)", s.nops)
		}
	})
}
