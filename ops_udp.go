package ioloop

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// Datagrams and messages: SendTo, RecvFrom, SendMsg and RecvMsg.
//
// A datagram is sent whole or not at all: unlike Send, these operations
// are never continued by the loop, and a result is one system call's (or
// one io_uring request's) result. A receive copies at most its buffers'
// length of one datagram; the rest of a longer datagram is discarded, as
// recvmsg(2) does without MSG_TRUNC: n is the bytes copied, and RecvMsg
// reports MSG_TRUNC in its flags. A zero-length datagram is an ordinary
// result (n == 0, err == nil), never io.EOF: a datagram socket has no end
// of stream.
//
// Every backend runs them as one sendmsg(2) or recvmsg(2) over a msghdr the
// Completion keeps in its rare arguments (io_uring: IORING_OP_SENDMSG and
// IORING_OP_RECVMSG), so that steady-state datagram I/O allocates nothing
// and the kernel may write the sender's address, the control length and
// the flags back into it when the operation completes.

// SendTo sends buf as one datagram to the address to on the datagram
// socket fd (see ListenUDP and UDPSocket) and calls back with the bytes
// sent, which is len(buf) on success. An invalid to fails with EINVAL
// through the callback. A datagram too large for the protocol fails with
// EMSGSIZE. It uses MSG_NOSIGNAL, as Send does.
func SendTo[T any](l *Loop, c *Completion, fd int, buf []byte, to netip.AddrPort, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	l.prepare(c, opSendTo, callback == nil)
	c.op = opSendTo
	c.fd = int32(fd)
	c.io.buf = buf
	c.setOneIovec(buf)
	errno := syscall.Errno(syscall.EINVAL)
	if to.IsValid() {
		errno = c.setMessage(to, nil, false)
	}
	l.submitUnless(errno, c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// RecvFrom receives one datagram into buf from the datagram socket fd and
// calls back with the bytes copied and the sender's address (the zero
// AddrPort on error, or when the sender has no IP address, as on a unix
// socket). A datagram longer than buf is truncated: n == len(buf), the
// rest is lost (RecvMsg reports it). A zero-length datagram gives n == 0
// and a nil error.
//
// An IPv4 sender seen by an IPv6 socket is reported as an IPv4-mapped
// address (::ffff:a.b.c.d), which SendTo on that socket accepts back.
func RecvFrom[T any](l *Loop, c *Completion, fd int, buf []byte, ctx *T, callback func(ctx *T, c *Completion, n int, from netip.AddrPort, err error)) {
	l.prepare(c, opRecvFrom, callback == nil)
	c.op = opRecvFrom
	c.fd = int32(fd)
	c.io.buf = buf
	c.setOneIovec(buf)
	c.setMessage(netip.AddrPort{}, nil, true)
	c.send.cancelsInFlight = 0 // see retriedOnEAGAIN
	l.submit(c, unsafe.Pointer(ctx), recvFromCallback[T](callback))
}

// SendMsg sends the concatenation of bufs as one message on the socket fd,
// with the control (ancillary) data oob, like sendmsg(2): build oob with
// unix.UnixRights, unix.PktInfo4 and the like. to is the destination; the
// zero AddrPort sends to the address the socket is connected to (on a
// socket that is not connected that fails with EDESTADDRREQ), and is the
// only choice on a unix socket. It calls back with the bytes sent.
//
// The simulator carries no control data: there a non-empty oob fails with
// EOPNOTSUPP (docs/ARCHITECTURE.md, "Where the backends differ").
func SendMsg[T any](l *Loop, c *Completion, fd int, bufs [][]byte, oob []byte, to netip.AddrPort, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	l.prepare(c, opSendMsg, callback == nil)
	c.op = opSendMsg
	c.fd = int32(fd)
	c.setIovecs(bufs)
	errno := c.setMessage(to, oob, false)
	l.submitUnless(errno, c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// RecvMsg receives one message into bufs, in order, and its control data
// into oob, like recvmsg(2), and calls back with:
//
//   - n, the bytes copied into bufs;
//   - oobn, the bytes of control data written to oob (parse them with
//     unix.ParseSocketControlMessage);
//   - flags, the message's flags: unix.MSG_TRUNC when the datagram was
//     longer than bufs (the rest is lost), unix.MSG_CTRUNC when control
//     data did not fit oob;
//   - from, the sender's address, as RecvFrom reports it.
//
// On error all but err are zero. The simulator delivers no control data
// (oobn is always 0 there).
func RecvMsg[T any](l *Loop, c *Completion, fd int, bufs [][]byte, oob []byte, ctx *T, callback func(ctx *T, c *Completion, n, oobn, flags int, from netip.AddrPort, err error)) {
	l.prepare(c, opRecvMsg, callback == nil)
	c.op = opRecvMsg
	c.fd = int32(fd)
	c.setIovecs(bufs)
	c.setMessage(netip.AddrPort{}, oob, true)
	c.send.cancelsInFlight = 0 // see retriedOnEAGAIN
	l.submit(c, unsafe.Pointer(ctx), recvMsgCallback[T](callback))
}

// setOneIovec points the Completion's iovec array at buf alone.
func (c *Completion) setOneIovec(buf []byte) {
	rare := c.attachRare()
	if cap(rare.iovecs) < 1 {
		rare.iovecs = make([]sysIovec, 1)
	}
	rare.iovecs = rare.iovecs[:1]
	rare.iovecs[0].Base = unsafe.SliceData(buf)
	rare.iovecs[0].SetLen(len(buf))
}

// setMessage builds the msghdr over the iovecs already set: the
// destination to (a send; invalid: none), or room for the sender's address
// (receive), and the control buffer oob.
func (c *Completion) setMessage(to netip.AddrPort, oob []byte, receive bool) syscall.Errno {
	rare := c.rare
	msg := &rare.msg
	*msg = sysMsghdr{}
	if len(rare.iovecs) > 0 {
		msg.Iov = &rare.iovecs[0]
		msg.SetIovlen(len(rare.iovecs))
	}
	rare.oob = oob
	if len(oob) > 0 {
		msg.Control = unsafe.SliceData(oob)
		msg.SetControllen(len(oob))
	}
	switch {
	case receive:
		rare.sockaddr = sysRawSockaddrAny{}
		msg.Name = (*byte)(unsafe.Pointer(&rare.sockaddr))
		msg.Namelen = sysSizeofSockaddrAny
	case to.IsValid():
		size, errno := encodeInetSockaddr(to, &rare.sockaddr)
		if errno != 0 {
			return errno
		}
		msg.Name = (*byte)(unsafe.Pointer(&rare.sockaddr))
		msg.Namelen = size
	}
	return 0
}

// rearmReceive restores what a receive's msghdr offers the kernel (room for
// the address and the control data), which an attempt that failed with
// EAGAIN may have changed, before the readiness backends try again.
func (c *Completion) rearmReceive() {
	msg := &c.rare.msg
	msg.Namelen = sysSizeofSockaddrAny
	msg.SetControllen(len(c.rare.oob))
	msg.Flags = 0
}

// messageSender is the sender's address of a finished receive, as the
// kernel (or the simulator) left it in the msghdr.
func (c *Completion) messageSender() netip.AddrPort {
	return addrPortFromRaw(&c.rare.sockaddr, c.rare.msg.Namelen)
}
