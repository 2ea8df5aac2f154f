//go:build !windows

package conn

import (
	"net/netip"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// shutWrite is shutdown(2)'s SHUT_WR.
const shutWrite = unix.SHUT_WR

// sendVectored sends iov in one system call: sendmsg(2) on the kernel
// backends (MSG_NOSIGNAL: a gone peer is EPIPE, never SIGPIPE), Writev on
// the simulator, which runs SendMsg on datagram sockets only.
func sendVectored(c *Conn, iov [][]byte) {
	if c.loop.Backend() == ioloop.BackendSimulator {
		ioloop.Writev(c.loop, &c.sendOp, c.fd, iov, -1, c, (*Conn).onSent)
		return
	}
	ioloop.SendMsg(c.loop, &c.sendOp, c.fd, iov, nil, netip.AddrPort{}, c, (*Conn).onSent)
}

// closeNow closes fd with close(2), for a descriptor whose Close
// operation never ran because the loop was closing. A simulated loop's
// descriptors are not the kernel's: they stay with the simulated node.
func closeNow(loop *ioloop.Loop, fd int) {
	if loop.Backend() != ioloop.BackendSimulator {
		_ = unix.Close(fd)
	}
}

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
