//go:build !windows

package conn

import (
	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// shutWrite is shutdown(2)'s SHUT_WR.
const shutWrite = unix.SHUT_WR

// closeDescriptor closes a kernel socket outside the loop.
func closeDescriptor(fd int) { _ = unix.Close(fd) }

// applySocketOptions sets the options of set on a connected TCP socket
// (accepted sockets inherit TCP_NODELAY from the listener). The simulator
// has no socket options.
func applySocketOptions(loop *ioloop.Loop, fd int, set *settings, dialed bool) error {
	if loop.Backend() == ioloop.BackendSimulator {
		return nil
	}
	o := &set.opts
	if dialed && !set.noDelay { // ioloop.TCPSocket sets TCP_NODELAY
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 0); err != nil {
			return err
		}
	}
	if o.KeepAlive.Enable {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
			return err
		}
		if err := setKeepAliveTimes(fd, seconds(o.KeepAlive.Idle), seconds(o.KeepAlive.Interval), o.KeepAlive.Count); err != nil {
			return err
		}
	}
	if o.SendBufferBytes > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, o.SendBufferBytes); err != nil {
			return err
		}
	}
	if o.RecvBufferBytes > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.RecvBufferBytes); err != nil {
			return err
		}
	}
	if o.Linger != 0 {
		l := unix.Linger{Onoff: 1}
		if o.Linger > 0 {
			l.Linger = int32(seconds(o.Linger))
		}
		if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &l); err != nil {
			return err
		}
	}
	return nil
}
