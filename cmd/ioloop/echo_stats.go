package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ioloop/ioloop"
)

// loopStatsPrinter is `ioloop echo -stats D`: a Timeout on the loop whose
// callback prints the loop's counters (Loop.Stats) every D and submits
// itself again. It runs on the loop's goroutine, where Stats is read, so
// it needs no synchronization; Close cancels it.
type loopStatsPrinter struct {
	loop  *ioloop.Loop
	every time.Duration
	out   io.Writer
	timer ioloop.Completion
	// err is the first failure to write; printing stops there.
	err error
}

// checkLoopStatsFlag validates -stats: a duration of at least zero, for
// one loop (a group's loops run on goroutines of their own).
func checkLoopStatsFlag(fs *flag.FlagSet, every time.Duration, group bool) (code int, ok bool) {
	switch {
	case every < 0:
		return usageError(fs, "-stats must not be negative, got %v", every), false
	case every > 0 && group:
		return usageError(fs, "-stats reads one loop's counters: it cannot be combined with -loops N or -pin"), false
	}
	return exitOK, true
}

// startLoopStats starts printing loop's counters to out every interval;
// an interval of 0 prints nothing.
func startLoopStats(loop *ioloop.Loop, every time.Duration, out io.Writer) *loopStatsPrinter {
	if every <= 0 {
		return nil
	}
	p := &loopStatsPrinter{loop: loop, every: every, out: out}
	ioloop.Timeout(loop, &p.timer, every, p, (*loopStatsPrinter).onTimer)
	return p
}

func (p *loopStatsPrinter) onTimer(_ *ioloop.Completion, err error) {
	if err != nil {
		return // canceled: the loop is closing
	}
	st := p.loop.Stats()
	if p.err = writeLoopStats(p.out, &st); p.err != nil {
		return
	}
	ioloop.Timeout(p.loop, &p.timer, p.every, p, (*loopStatsPrinter).onTimer)
}

// writeLoopStats prints st as one `loopstats key=value ...` line. ops
// lists every kind of operation submitted so far as name:submitted/completed
// (a callback completes one; the loop's own Timeouts for these lines count
// too).
func writeLoopStats(w io.Writer, st *ioloop.Stats) error {
	var ops strings.Builder
	for i, c := range st.Ops {
		if c == (ioloop.OpCounts{}) {
			continue
		}
		if ops.Len() > 0 {
			ops.WriteByte(',')
		}
		fmt.Fprintf(&ops, "%s:%d/%d", ioloop.Op(i), c.Submitted, c.Completed)
	}
	_, err := fmt.Fprintf(w, "loopstats kernel_enters=%d in_flight=%d overflow=%d overflow_high=%d timers=%d inbox=%d pool_free=%d ops=%s\n",
		st.KernelEnters, st.InFlight, st.OverflowDepth, st.OverflowHighWater, st.TimersPending, st.InboxDepth,
		st.PoolBuffersFree, ops.String())
	return err
}
