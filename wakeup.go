package ioloop

import "sync/atomic"

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
	l.wake.state.Store(how)
	if l.inbox.hasWork() || (otherWork != nil && otherWork.Load() != 0) {
		l.wake.state.Store(loopAwake)
		return false
	}
	return true
}

// awake records that the loop's blocking wait is over.
func (l *Loop) awake() { l.wake.state.Store(loopAwake) }
