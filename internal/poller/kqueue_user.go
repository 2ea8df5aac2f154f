//go:build darwin || freebsd

package poller

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// kqueueWakeup ends a wait with an EVFILT_USER event, which exists for
// exactly this and costs no descriptor. EV_CLEAR resets it when a wait
// reports it, so one trigger ends one wait.
type kqueueWakeup struct{}

// wakeupIdent names the wakeup among EVFILT_USER events, a namespace of
// their own: it cannot collide with a descriptor's filters.
const wakeupIdent = 0

func (kqueueWakeup) open(kq int) error {
	var change [1]unix.Kevent_t
	unix.SetKevent(&change[0], wakeupIdent, unix.EVFILT_USER, unix.EV_ADD|unix.EV_CLEAR)
	_, err := unix.Kevent(kq, change[:], nil, nil)
	return err
}

func (kqueueWakeup) trigger(kq int) {
	var change [1]unix.Kevent_t
	unix.SetKevent(&change[0], wakeupIdent, unix.EVFILT_USER, 0)
	change[0].Fflags = unix.NOTE_TRIGGER
	for {
		if _, err := unix.Kevent(kq, change[:], nil, nil); err != syscall.EINTR {
			return
		}
	}
}

func (kqueueWakeup) is(event *unix.Kevent_t) bool {
	return event.Filter == unix.EVFILT_USER && event.Ident == wakeupIdent
}

// drain has nothing to do: EV_CLEAR reset the event when it was reported.
func (kqueueWakeup) drain() {}

func (kqueueWakeup) close() error { return nil }
