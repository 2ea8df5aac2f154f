package poller

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Poller is the epoll side of the readiness contract (poller.go).
//
// Interest is one-shot (EPOLLONESHOT) and level-triggered: after an event
// the registration is disabled until the loop re-arms it with
// EPOLL_CTL_MOD, so an fd reports once per wait it asked for and data that
// arrived before arming is reported at once. Re-arming first tries MOD and
// falls back to ADD on ENOENT: if the program closed a descriptor behind
// the loop's back and the number came back for a new file, the kernel has
// forgotten the old registration and the new file is simply added.
// Go's runtime registers edge-triggered once per fd instead, which it can
// because every close goes through it; a library cannot assume that.
type Poller struct {
	epfd   int
	wakeFD int // eventfd; its events are wakeups
	events []unix.EpollEvent
	// noPwait2: epoll_pwait2 (Linux 5.11; nanosecond timeouts) is
	// missing, so waits round up to whole milliseconds with epoll_wait.
	noPwait2 bool
}

// Open implements the Poller contract (see the package documentation).
func (p *Poller) Open(eventsCapacity int) error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	wakeFD, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return err
	}
	// Level-triggered without one-shot: a pending wakeup keeps reporting
	// until wait drains the counter.
	event := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakeFD)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakeFD, &event); err != nil {
		unix.Close(wakeFD)
		unix.Close(epfd)
		return err
	}
	p.epfd, p.wakeFD = epfd, wakeFD
	p.events = make([]unix.EpollEvent, eventsCapacity)
	return nil
}

// Arm implements the Poller contract (see the package documentation).
func (p *Poller) Arm(fd int, s *State, read, write bool) syscall.Errno {
	event := unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: int32(fd)}
	if read {
		event.Events |= unix.EPOLLIN
	}
	if write {
		event.Events |= unix.EPOLLOUT
	}
	op := unix.EPOLL_CTL_ADD
	if s.Registered {
		op = unix.EPOLL_CTL_MOD
	}
	errno := epollCtl(p.epfd, op, fd, &event)
	switch {
	case errno == syscall.ENOENT && op == unix.EPOLL_CTL_MOD:
		errno = epollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &event) // closed and reused behind our back
	case errno == syscall.EEXIST && op == unix.EPOLL_CTL_ADD:
		errno = epollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &event) // registered by an earlier file with this number
	}
	if errno != 0 {
		return errno
	}
	s.Registered, s.ArmedRead, s.ArmedWrite = true, read, write
	return 0
}

func epollCtl(epfd, op, fd int, event *unix.EpollEvent) syscall.Errno {
	_, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd),
		uintptr(unsafe.Pointer(event)), 0, 0)
	return errno
}

// Forget: closing the descriptor removes it from the epoll set (unless
// another descriptor shares the file; then a stale one-shot event can
// still arrive once, which the loop treats as a spurious wakeup).
func (p *Poller) Forget(fd int, s *State) { *s = State{} }

// Wait implements the Poller contract (see the package documentation).
func (p *Poller) Wait(timeoutNs int64) (int, error) {
	var count uintptr
	var errno syscall.Errno
	events := uintptr(unsafe.Pointer(unsafe.SliceData(p.events)))
	if !p.noPwait2 && timeoutNs > 0 {
		timeout := unix.NsecToTimespec(timeoutNs)
		count, _, errno = unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(p.epfd), events, uintptr(len(p.events)),
			uintptr(unsafe.Pointer(&timeout)), 0, 0)
		if errno == syscall.ENOSYS {
			p.noPwait2 = true
		}
	}
	if p.noPwait2 || timeoutNs <= 0 {
		timeoutMs := -1
		if timeoutNs >= 0 {
			timeoutMs = int((timeoutNs + 999_999) / 1_000_000) // never wake early
		}
		if timeoutNs == 0 {
			count, _, errno = unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd), events, uintptr(len(p.events)), 0, 0, 0)
		} else {
			count, _, errno = unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd), events, uintptr(len(p.events)),
				uintptr(timeoutMs), 0, 0)
		}
	}
	switch errno {
	case 0:
	case syscall.EINTR:
		return 0, nil
	default:
		return 0, errno
	}
	for i := range int(count) {
		if int(p.events[i].Fd) == p.wakeFD {
			var drained [8]byte
			_, _ = unix.Read(p.wakeFD, drained[:])
		}
	}
	return int(count), nil
}

// Event implements the Poller contract (see the package documentation).
func (p *Poller) Event(i int) (fd int, readable, writable bool) {
	e := &p.events[i]
	fd = int(e.Fd)
	if fd == p.wakeFD {
		return -1, false, false
	}
	const failed = unix.EPOLLERR | unix.EPOLLHUP
	return fd, e.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|failed) != 0, e.Events&(unix.EPOLLOUT|failed) != 0
}

// Wake implements the Poller contract (see the package documentation).
func (p *Poller) Wake() {
	one := uint64(1) // eventfd adds a native-endian 64-bit value to its counter
	_, _ = unix.Write(p.wakeFD, (*[8]byte)(unsafe.Pointer(&one))[:])
}

// Close implements the Poller contract (see the package documentation).
func (p *Poller) Close() error {
	err := unix.Close(p.epfd)
	if err2 := unix.Close(p.wakeFD); err == nil {
		err = err2
	}
	return err
}
