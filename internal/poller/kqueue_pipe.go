//go:build netbsd || openbsd

package poller

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// kqueueWakeup ends a wait through a non-blocking pipe whose read end the
// kqueue watches: OpenBSD has no EVFILT_USER, and NetBSD gained it only in
// version 10 (x/sys does not define it there).
type kqueueWakeup struct {
	readFD, writeFD int
}

func (w *kqueueWakeup) open(kq int) error {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return err
	}
	// Level-triggered and persistent, not one-shot: a byte left in the
	// pipe keeps ending waits until drain takes it.
	var change [1]unix.Kevent_t
	unix.SetKevent(&change[0], fds[0], unix.EVFILT_READ, unix.EV_ADD)
	if _, err := unix.Kevent(kq, change[:], nil, nil); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return err
	}
	w.readFD, w.writeFD = fds[0], fds[1]
	return nil
}

// trigger writes one byte. EAGAIN means the pipe is full of wakeups
// already, which is as good.
func (w *kqueueWakeup) trigger(int) {
	one := [1]byte{1}
	for {
		if _, err := unix.Write(w.writeFD, one[:]); err != syscall.EINTR {
			return
		}
	}
}

func (w *kqueueWakeup) is(event *unix.Kevent_t) bool {
	return event.Filter == unix.EVFILT_READ && int(event.Ident) == w.readFD
}

// drain empties the pipe, so that the wakeup reports no more.
func (w *kqueueWakeup) drain() {
	var buf [64]byte
	for {
		n, err := unix.Read(w.readFD, buf[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n < len(buf) {
			return
		}
	}
}

func (w *kqueueWakeup) close() error {
	err := unix.Close(w.readFD)
	if err2 := unix.Close(w.writeFD); err == nil {
		err = err2
	}
	return err
}
