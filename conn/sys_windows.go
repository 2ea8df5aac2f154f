package conn

import (
	"errors"
	"time"
	"unsafe"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/windows"
)

// shutWrite is shutdown's SD_SEND, Windows' SHUT_WR.
const shutWrite = windows.SHUT_WR

// closeDescriptor closes a kernel socket outside the loop.
func closeDescriptor(fd int) { _ = windows.Closesocket(windows.Handle(fd)) }

// applySocketOptions sets the options of set on a connected TCP socket,
// as sys_unix.go does with the same option names, which Windows shares
// (accepted sockets inherit TCP_NODELAY from the listener). The simulator
// has no socket options.
func applySocketOptions(loop *ioloop.Loop, fd int, set *settings, dialed bool) error {
	if loop.Backend() == ioloop.BackendSimulator {
		return nil
	}
	s := windows.Handle(fd)
	o := &set.opts
	if dialed && !set.noDelay { // ioloop.TCPSocket sets TCP_NODELAY
		if err := windows.SetsockoptInt(s, windows.IPPROTO_TCP, windows.TCP_NODELAY, 0); err != nil {
			return err
		}
	}
	if o.KeepAlive.Enable {
		if err := windows.SetsockoptInt(s, windows.SOL_SOCKET, windows.SO_KEEPALIVE, 1); err != nil {
			return err
		}
		if err := setKeepAliveTimes(s, o.KeepAlive.Idle, o.KeepAlive.Interval, o.KeepAlive.Count); err != nil {
			return err
		}
	}
	if o.SendBufferBytes > 0 {
		if err := windows.SetsockoptInt(s, windows.SOL_SOCKET, windows.SO_SNDBUF, o.SendBufferBytes); err != nil {
			return err
		}
	}
	if o.RecvBufferBytes > 0 {
		if err := windows.SetsockoptInt(s, windows.SOL_SOCKET, windows.SO_RCVBUF, o.RecvBufferBytes); err != nil {
			return err
		}
	}
	if o.Linger != 0 {
		l := windows.Linger{Onoff: 1}
		if o.Linger > 0 {
			l.Linger = int32(seconds(o.Linger))
		}
		if err := windows.SetsockoptLinger(s, windows.SOL_SOCKET, windows.SO_LINGER, &l); err != nil {
			return err
		}
	}
	return nil
}

// setKeepAliveTimes sets the idle time, interval and probe count with
// TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT (Windows 10 1709 and later).
// Where the first two are refused, as by older Windows and by wine, the
// idle time and interval go through SIO_KEEPALIVE_VALS, which takes both
// at once (in milliseconds) and has no count: a count then fails with the
// error Windows gave. Zero values are left alone.
func setKeepAliveTimes(s windows.Handle, idle, interval time.Duration, count int) error {
	var timesErr error
	for _, o := range [...]struct {
		name  int
		value int
	}{{windows.TCP_KEEPIDLE, seconds(idle)}, {windows.TCP_KEEPINTVL, seconds(interval)}} {
		if o.value > 0 && timesErr == nil {
			timesErr = windows.SetsockoptInt(s, windows.IPPROTO_TCP, o.name, o.value)
		}
	}
	if timesErr != nil {
		if err := keepAliveVals(s, idle, interval); err != nil {
			return errors.Join(timesErr, err)
		}
	}
	if count > 0 {
		return windows.SetsockoptInt(s, windows.IPPROTO_TCP, windows.TCP_KEEPCNT, count)
	}
	return nil
}

// keepAliveVals sets keepalive on, with the idle time and interval, via
// WSAIoctl(SIO_KEEPALIVE_VALS); a zero value takes Windows' default (two
// hours idle, one second between probes).
func keepAliveVals(s windows.Handle, idle, interval time.Duration) error {
	ms := func(d, def time.Duration) uint32 {
		if d <= 0 {
			d = def
		}
		return uint32(min(d.Milliseconds(), 1<<32-1))
	}
	vals := windows.TCPKeepalive{OnOff: 1, Time: ms(idle, 2*time.Hour), Interval: ms(interval, time.Second)}
	var returned uint32
	return windows.WSAIoctl(s, windows.SIO_KEEPALIVE_VALS, (*byte)(unsafe.Pointer(&vals)), uint32(unsafe.Sizeof(vals)),
		nil, 0, &returned, nil, 0)
}
