package ioloop

import (
	"runtime"
	"sync/atomic"
)

// wakeup lets other goroutines (file workers, Post, Event.Trigger, Stop,
// other loops) end a loop's blocking wait, and costs them a system call
// only when the loop really is blocked.
//
// The protocol is a Dekker-style handshake on state (every access is
// sequentially consistent): the loop announces how it is about to block
// (announceSleep), then looks once more for work; a producer publishes its
// work, then swaps state back to awake and, if the loop had announced a
// sleep, wakes it. Whichever runs second sees the other's write, so work
// published while the loop decides to sleep is never stranded; at worst a
// wakeup arrives that finds nothing to do (a spurious wakeup, harmless).
type wakeup struct {
	state atomic.Int32
	// kernel ends a wait in the kernel (loopInKernel): an eventfd write on
	// io_uring and epoll, EVFILT_USER on kqueue. Safe from any goroutine;
	// nil on the simulator, which never blocks for real.
	kernel func()
	// parked ends a wait in the Go scheduler (loopParked): the readiness
	// backends park the loop's goroutine there when nothing waits on a
	// descriptor (see readinessBackend.sleepWithoutPoller).
	parked chan struct{}
}

// States of wakeup.state.
const (
	loopAwake int32 = iota
	loopInKernel
	loopParked
)

// wake ends the loop's announced sleep, if any, and only once per sleep.
func (w *wakeup) wake() {
	if w.state.Load() == loopAwake {
		return // awake: it looks at its inbox before sleeping again
	}
	switch w.state.Swap(loopAwake) {
	case loopInKernel:
		if w.kernel != nil {
			w.kernel()
		}
	case loopParked:
		select {
		case w.parked <- struct{}{}:
		default: // a wakeup is already pending
		}
	}
}

// announceSleep tells producers how the loop is about to block and reports
// whether it may: it may not when work arrived (the inbox, or a backend's
// own source such as finished file operations, when otherWork is non-nil
// and not zero). Announcing before the last look means a producer that
// publishes in between sees the announcement and wakes the loop.
func (l *Loop) announceSleep(how int32, otherWork *atomic.Int32) bool {
	if how == loopInKernel {
		l.yieldBeforeKernelWait()
	}
	l.wake.state.Store(how)
	if l.inbox.hasWork() || (otherWork != nil && otherWork.Load() != 0) {
		l.wake.state.Store(loopAwake)
		return false
	}
	return true
}

// awake records that the loop's blocking wait is over.
func (l *Loop) awake() { l.wake.state.Store(loopAwake) }

// schedulerYieldIntervalNs is how often, at most, a loop about to block in
// the kernel first passes through the Go scheduler (runtime.Gosched). It is
// half of the Go runtime's forcePreemptNS (10 ms), the time after which
// sysmon treats a goroutine that has not been rescheduled as running too
// long.
//
// Why: a loop's goroutine otherwise never reaches the scheduler. It runs
// callbacks and makes system calls, and each of those returns to it on the
// fast path, so the P's schedule tick never moves. After 10 ms, sysmon
// decides the goroutine has run too long and, because a goroutine in a
// system call cannot be preempted, takes its P away while it waits in the
// kernel. Taking a P counts as work, which keeps sysmon polling every 20 µs
// instead of backing off to 10 ms, and the retakes go on: every wait that
// spans a sysmon tick loses the P, and getting one back costs futex
// wake-ups and thread switches. With one connection served in ping-pong
// (every message a blocking wait), this cost 35-38 µs of server CPU per
// message against 25-26 with the yield (2026-12-05, see docs/BENCHMARKS.md,
// "Where one connection's CPU goes"). gnet avoids it the same way: its
// poller calls runtime.Gosched before each blocking epoll_wait.
//
// Why not yield before every wait: on a loop locked to its OS thread
// (Options.LockedThread, every Group loop) Gosched hands the P to another
// thread and back, two futex wake-ups and two thread switches, which cost
// more than the problem it solves (measured 49 µs per message against 36).
// Once per 5 ms costs that at most 200 times a second.
const schedulerYieldIntervalNs = 5_000_000

// yieldBeforeKernelWait passes through the Go scheduler if the loop has not
// done so for schedulerYieldIntervalNs. Only a pass that is about to block
// calls it, so a busy loop, which never blocks, does not pay for the clock
// read; the Go runtime preempts a busy goroutine itself.
func (l *Loop) yieldBeforeKernelWait() {
	nowNs := l.nowNs()
	if nowNs-l.lastYieldNs < schedulerYieldIntervalNs {
		return
	}
	l.lastYieldNs = nowNs
	l.schedulerYields++
	runtime.Gosched()
}
