package ioloop

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Buffer pools and multishot operations on IOCP (pool.go, ops_pooled.go).
//
// Windows has no provided-buffer rings, and an overlapped WSARecv needs
// its buffer when it is issued. A stream receive (RecvPooled,
// RecvMultishot) therefore starts with a zero-byte WSARecv, which holds
// no buffer and completes when data, the end of the stream or an error
// arrives (a readiness notification); only then does it take a buffer
// from its pool and issue the WSARecv into it, which finds the data there
// and completes at once. An idle
// connection holds no buffer, as on epoll, and a pool serves more idle
// connections than it has buffers. A datagram receive (RecvFromMultishot)
// takes its buffer when it starts: a zero-byte WSARecvFrom would consume
// the datagram (WSAEMSGSIZE, the payload lost). A multishot operation is
// a single overlapped call (for a stream, the zero-byte one and then the
// one into the buffer) that the loop starts again after each shot. The
// API and its results are those of every backend.
//
// While a call is in the kernel, c.index is its record's slot, as for
// every IOCP operation, and the record keeps the buffer (iocpOp.bufID;
// bufProbing while the zero-byte WSARecv waits); c.index is -1 again
// before any result is reported, so that Completion.dropUnfilled, which
// reads c.index as a buffer, finds none: finishPooled gives back an
// unfilled buffer itself.

// bufProbing is iocpOp.bufID while a stream receive's zero-byte WSARecv
// is in the kernel: no buffer taken yet.
const bufProbing = -2

// startPooled starts a RecvPooled, RecvMultishot or RecvFromMultishot: for
// a stream, the zero-byte WSARecv that waits for data holding no buffer;
// for a datagram, receivePooled at once.
func (b *iocpBackend) startPooled(c *Completion) {
	s := windows.Handle(c.fd)
	st, ok := b.prepared(c, s)
	if !ok {
		return
	}
	if st.kind != handleSocket {
		b.loop.complete(c, -int32(syscall.ENOTSOCK))
		return
	}
	if c.op == opRecvFromMultishot {
		b.receivePooled(c, s, &st)
		return
	}
	op := b.ops.get(c)
	op.handle, op.bufID = s, bufProbing
	op.one[0] = windows.WSABuf{}
	err := windows.WSARecv(s, &op.one[0], 1, &op.bytes, &op.flags, &op.ov, nil)
	b.issued(op, err, &st)
}

// receivePooled takes a buffer from the pool (or, with none free, waits
// for a Release) and issues WSARecv or WSARecvFrom into it. After a
// stream's zero-byte WSARecv the data is there and the call completes at
// once; should it not be, the call waits holding the buffer.
func (b *iocpBackend) receivePooled(c *Completion, s windows.Handle, st *handleState) {
	p := c.pool()
	id, ok := p.take()
	if !ok {
		b.loop.parkOnPool(c, p) // in flight since submit, as parkOnPool wants
		return
	}
	op := b.ops.get(c)
	op.handle, op.bufID = s, int32(id)
	whole := p.buffer(id)
	var err error
	if c.op == opRecvFromMultishot {
		c.pointDatagramReceive(whole) // the msghdr's lengths, for writeDatagramHeader
		payload := whole[datagramPayloadOffset:]
		op.one[0] = wsaBuf(payload[:min(len(payload), maxIOLen)])
		op.fromBytes = int32(unsafe.Sizeof(c.rare.sockaddr))
		err = windows.WSARecvFrom(s, &op.one[0], 1, &op.bytes, &op.flags, &c.rare.sockaddr, &op.fromBytes, &op.ov, nil)
		if err == syscall.Errno(wsaEMSGSIZE) {
			// A longer datagram, there at once: no packet follows (see
			// startDatagram).
			c.rare.msg.Flags, c.rare.msg.Namelen = sysMSG_TRUNC, uint32(op.fromBytes)
			b.finish(op, int32(op.one[0].Len))
			return
		}
	} else {
		op.one[0] = wsaBuf(whole[:min(len(whole), maxIOLen)])
		err = windows.WSARecv(s, &op.one[0], 1, &op.bytes, &op.flags, &op.ov, nil)
	}
	b.issued(op, err, st)
}

// finishPooled takes the result of one overlapped call of a pooled
// receive or an AcceptMultishot: the buffer it took is filled or given
// back; a multishot's success is a shot (Loop.deliverShot), after which
// the operation is started again unless a Cancel or Close asked for its
// end; anything else is the operation's final result, which Loop.complete
// interprets (0 on a stream is io.EOF, an abort ErrCanceled).
func (b *iocpBackend) finishPooled(op *iocpOp, res int32) {
	c := op.c
	l := b.loop
	bufID, ended, s := op.bufID, op.cancelRequested, op.handle
	b.ops.put(op)
	c.index = -1
	if bufID == bufProbing {
		// The zero-byte WSARecv: data (or the end) has arrived, unless it
		// failed or was aborted.
		switch {
		case res < 0:
			l.complete(c, res)
		case ended || c.send.cancelsInFlight > 0 || l.isClosing():
			l.completeWith(c, 0, codeCanceled)
		default:
			st := b.state(s)
			b.receivePooled(c, s, &st)
		}
		return
	}
	datagram := c.op == opRecvFromMultishot
	success := res > 0 || res == 0 && (datagram || c.op == opAcceptMultishot)
	if bufID >= 0 {
		p := c.pool()
		if success {
			if datagram {
				c.writeDatagramHeader(p.buffer(uint16(bufID)), int(res))
			}
			p.fill(uint16(bufID))
		} else {
			p.giveBack(uint16(bufID))
			bufID = -1
		}
	}
	if !success {
		l.complete(c, res)
		return
	}
	if c.op == opRecvPooled {
		c.setDelivered(bufID)
		l.complete(c, res)
		return
	}
	l.deliverShot(c, res, bufID)
	if ended || c.send.cancelsInFlight > 0 || l.isClosing() {
		l.completeWith(c, 0, codeCanceled)
		return
	}
	b.resubmit(c)
}
