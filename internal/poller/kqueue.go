//go:build darwin || freebsd || netbsd || openbsd

package poller

import (
	"slices"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Poller is the kqueue side of the readiness contract (poller.go).
//
// Each direction is a filter of its own (EVFILT_READ, EVFILT_WRITE) added
// with EV_ADD|EV_ONESHOT: the kernel reports it once, then deletes it, and
// adding a filter it still holds just updates that one. So arm can always
// add what it wants without knowing whether an earlier filter fired, and
// closing a descriptor deletes its filters, so nothing stale survives a
// close the loop makes.
//
// arm makes no system call: it appends to a change list that the next
// wait hands to the same kevent call that waits, which is what kqueue's
// interface is built for. A change that fails there (EBADF: the program
// closed the descriptor behind the loop's back; EINVAL: a kind of file
// kqueue cannot watch) comes back as an EV_ERROR event, which event
// reports as readable and writable so that the operation's own system
// call reports the real error. Should that call still say "would block",
// the loop arms again, and arm returns the kernel's error (refused) rather
// than queue a change that would fail the same way forever. The kernel
// places error events before any readiness and stops there, so the event
// list needs room for all of them: the change list never holds more
// entries than the event list, and a full one is applied early
// (flushChanges).
type Poller struct {
	kq      int
	changes []unix.Kevent_t // at most len(events) entries
	events  []unix.Kevent_t
	// failed holds the changes that failed in an early flush, which had no
	// event list to report them in; the next wait reports them.
	failed []refusal
	// refused holds the changes that failed, as reported by the last wait,
	// for the arms that follow it.
	refused []refusal
	// timeout and zero live here rather than on the stack: kevent reads
	// them by address.
	timeout unix.Timespec
	zero    unix.Timespec
	wakeup  kqueueWakeup
	// wakePending: a wakeup was triggered and no wait has consumed it yet,
	// so another wake can skip its system call (like netpollWakeSig in Go's
	// runtime). close sets it for good, so that a late wake does nothing.
	wakePending atomic.Bool
}

// refusal is a change the kernel refused: for which fd, and why.
type refusal struct {
	fd    int
	errno syscall.Errno
}

// maxKqueueWaitNs bounds one wait: macOS fails kevent with EINVAL for
// timeouts beyond about 10^8 seconds, so Go's runtime caps waits at 10^6
// seconds, and so do we. A wait that ends early just reports no events.
const maxKqueueWaitNs = 1e6 * 1e9

// Open implements the Poller contract (see the package documentation).
func (p *Poller) Open(eventsCapacity int) error {
	eventsCapacity = max(eventsCapacity, 1)
	kq, err := unix.Kqueue()
	if err != nil {
		return err
	}
	// A fork does not inherit a kqueue, so no lock against fork+exec is
	// needed, but an exec without fork would keep it open.
	unix.CloseOnExec(kq)
	if err := p.wakeup.open(kq); err != nil {
		unix.Close(kq)
		return err
	}
	p.kq = kq
	p.events = make([]unix.Kevent_t, eventsCapacity)
	p.changes = make([]unix.Kevent_t, 0, eventsCapacity)
	return nil
}

// Arm queues a one-shot filter for each direction wanted, every time:
// the kernel may hold one still (the loop re-arms after any event, and
// kqueue keeps the other direction's filter), and then the add only
// updates it; or the program may have closed fd behind the loop's back,
// which deleted the filters that s still records. s keeps what was last
// asked for, as bookkeeping only.
func (p *Poller) Arm(fd int, s *State, read, write bool) syscall.Errno {
	if fd < 0 {
		return syscall.EBADF
	}
	if len(p.refused) > 0 {
		if errno := p.takeRefusal(fd); errno != 0 {
			s.ArmedRead, s.ArmedWrite = false, false
			return errno
		}
	}
	if read {
		p.addChange(fd, unix.EVFILT_READ)
	}
	if write {
		p.addChange(fd, unix.EVFILT_WRITE)
	}
	s.Registered, s.ArmedRead, s.ArmedWrite = true, read, write
	return 0
}

// takeRefusal returns (once) why the kernel refused a change for fd in
// the last wait, or 0.
func (p *Poller) takeRefusal(fd int) syscall.Errno {
	for i, r := range p.refused {
		if r.fd == fd {
			p.refused = slices.Delete(p.refused, i, i+1)
			return r.errno
		}
	}
	return 0
}

func (p *Poller) addChange(fd, filter int) {
	if len(p.changes) == cap(p.changes) {
		p.flushChanges()
	}
	p.changes = append(p.changes, unix.Kevent_t{})
	unix.SetKevent(&p.changes[len(p.changes)-1], fd, filter, unix.EV_ADD|unix.EV_ONESHOT)
}

// flushChanges applies the change list now, with no event list: given one,
// kevent would also take ready events off the queue, and those belong to
// the next wait. Without an event list a failing change makes kevent stop
// and return its error, so after a failure the changes are applied one at
// a time (adding again one that was applied is harmless) and the
// descriptors whose change fails wait in failed for the next wait.
func (p *Poller) flushChanges() {
	if len(p.changes) == 0 {
		return
	}
	if _, err := unix.Kevent(p.kq, p.changes, nil, &p.zero); err != nil {
		for i := range p.changes {
			if err := p.applyChange(i); err != nil {
				p.failed = append(p.failed, refusal{int(p.changes[i].Ident), errnoOf(err)})
			}
		}
	}
	p.changes = p.changes[:0]
}

func (p *Poller) applyChange(i int) error {
	for {
		_, err := unix.Kevent(p.kq, p.changes[i:i+1], nil, &p.zero)
		if err != syscall.EINTR {
			return err
		}
	}
}

// Forget drops what still names fd in userland. Closing fd deletes its
// filters in the kernel; a change not handed over yet, or a failure not
// reported yet, would otherwise apply to the next file given the number.
func (p *Poller) Forget(fd int, s *State) {
	p.changes = slices.DeleteFunc(p.changes, func(k unix.Kevent_t) bool { return int(k.Ident) == fd })
	p.failed = slices.DeleteFunc(p.failed, func(r refusal) bool { return r.fd == fd })
	p.refused = slices.DeleteFunc(p.refused, func(r refusal) bool { return r.fd == fd })
	*s = State{}
}

// Wait implements the Poller contract (see the package documentation).
func (p *Poller) Wait(timeoutNs int64) (int, error) {
	// Early-flush failures go at the end of the event list; the kernel gets
	// the rest, which must have room for an error event per change.
	failed := min(len(p.failed), len(p.events))
	room := len(p.events) - failed
	if len(p.changes) > room {
		p.flushChanges()
	}
	if failed > 0 {
		timeoutNs = 0
	}
	var timeout *unix.Timespec // nil: no limit
	if timeoutNs >= 0 {
		p.timeout = unix.NsecToTimespec(min(timeoutNs, maxKqueueWaitNs))
		timeout = &p.timeout
	}
	n := 0
	if room > 0 {
		var err error
		n, err = unix.Kevent(p.kq, p.changes, p.events[:room], timeout)
		switch {
		case err == syscall.EINTR:
			// The changes stay queued: none was reported, and applying one
			// again is harmless.
			n = 0
		case err != nil:
			return 0, err
		default:
			p.changes = p.changes[:0]
		}
	}
	for i, r := range p.failed[:failed] {
		event := &p.events[n+i]
		*event = unix.Kevent_t{}
		unix.SetKevent(event, r.fd, unix.EVFILT_READ, unix.EV_ERROR)
		event.Data = int64(r.errno)
	}
	p.failed = p.failed[:copy(p.failed, p.failed[failed:])]
	n += failed
	p.noteEvents(n)
	return n, nil
}

// noteEvents records the refusals among the first n events, replacing
// those of the previous wait (older ones could name a descriptor that has
// changed since), and resets the wakeup if it is among them. The wakeup
// channel is drained before wakePending is cleared: the other order could
// drain the trigger of a wake that came in between, which would then have
// no effect while suppressing every later one.
func (p *Poller) noteEvents(n int) {
	p.refused = p.refused[:0]
	for i := range n {
		event := &p.events[i]
		switch {
		case event.Flags&unix.EV_ERROR != 0:
			p.refused = append(p.refused, refusal{int(event.Ident), syscall.Errno(event.Data)})
		case p.wakeup.is(event):
			p.wakeup.drain()
			p.wakePending.Store(false)
		}
	}
}

// Event implements the Poller contract (see the package documentation).
func (p *Poller) Event(i int) (fd int, readable, writable bool) {
	event := &p.events[i]
	if p.wakeup.is(event) {
		return -1, false, false
	}
	fd = int(event.Ident)
	if event.Flags&(unix.EV_ERROR|unix.EV_EOF) != 0 {
		return fd, true, true
	}
	return fd, event.Filter == unix.EVFILT_READ, event.Filter == unix.EVFILT_WRITE
}

// Wake implements the Poller contract (see the package documentation).
func (p *Poller) Wake() {
	if p.wakePending.CompareAndSwap(false, true) {
		p.wakeup.trigger(p.kq)
	}
}

// Close releases the kqueue and the wakeup channel. The other callers of
// wake are gone by then: Close stops the file workers first, and its inbox
// gate has already waited out every Post, Trigger and Stop in progress.
func (p *Poller) Close() error {
	p.wakePending.Store(true)
	err := p.wakeup.close()
	if err2 := unix.Close(p.kq); err == nil {
		err = err2
	}
	return err
}

// errnoOf unwraps the syscall.Errno that x/sys returns as an error; an
// error of another kind (none is expected) becomes EIO.
func errnoOf(err error) syscall.Errno {
	if errno, ok := err.(syscall.Errno); ok {
		return errno
	}
	return syscall.EIO
}
