package ioloop

import (
	"encoding/binary"
	"net/netip"
	"unsafe"
)

// RecvFromMultishot: datagrams into a BufferPool, one submission for the
// socket's whole life.
//
// Every backend lays a received datagram out in its pool buffer as
// io_uring's multishot RECVMSG does (struct io_uring_recvmsg_out), so that
// the callback reads one layout everywhere:
//
//	offset 0   namelen, controllen, payloadlen, flags: four uint32 (host order)
//	offset 16  the sender's sockaddr, in datagramNameBytes
//	offset 44  the payload, up to the buffer's end
//
// The name region is a sockaddr_in6's size, which holds either IP family;
// a longer name (a unix socket's path) is cut, and reported as the zero
// AddrPort, as RecvFrom reports it. The io_uring kernel writes all of it;
// the other backends receive with recvmsg(2) into the payload region and
// write the rest themselves.

// Layout of a pooled datagram buffer (see above).
const (
	datagramOutBytes      = 16
	datagramNameBytes     = sysSizeofSockaddrInet6
	datagramPayloadOffset = datagramOutBytes + datagramNameBytes
)

// RecvFromMultishot receives datagrams from the datagram socket fd into
// buffers of pool, calling back once per datagram with its payload (buf,
// a slice of one of the pool's buffers, the caller's until
// pool.Release(buf)) and its sender, until an error, Cancel or Loop.Close
// ends it (see the comment on multishot operations above More; a datagram
// socket has no end of stream, so io.EOF never ends it). A zero-length
// datagram is a shot with an empty buf.
//
// Each buffer keeps its first 44 bytes for the datagram's header and
// sender (ops_pooled_udp.go), so a datagram is received into
// pool.Size()-44 bytes; a longer one is truncated, the rest lost, as
// RecvFrom truncates. pool.Size() must be more than 44: otherwise it
// panics.
//
// One RecvFromMultishot serves a socket with one operation in flight,
// where RecvFrom needs one per datagram to wait for: with many RecvFroms
// waiting on one socket, every datagram wakes all of them.
func RecvFromMultishot[T any](l *Loop, c *Completion, fd int, pool *BufferPool, ctx *T, callback func(ctx *T, c *Completion, buf []byte, from netip.AddrPort, err error)) {
	l.prepare(c, opRecvFromMultishot, callback == nil)
	c.op = opRecvFromMultishot
	if pool != nil && pool.Size() <= datagramPayloadOffset {
		panic("ioloop: RecvFromMultishot with a BufferPool of buffers of 44 bytes or fewer: each buffer keeps 44 bytes for the datagram's sender")
	}
	l.setPooled(c, fd, pool)
	c.setOneIovec(nil)
	c.setMessage(netip.AddrPort{}, nil, true)
	c.rare.msg.Namelen = datagramNameBytes
	l.submit(c, unsafe.Pointer(ctx), pooledFromCallback[T](callback))
}

// pooledFromCallback is the shape of RecvFromMultishot: n is the payload's
// length, and the sender is read from the buffer's name region.
type pooledFromCallback[T any] func(ctx *T, c *Completion, buf []byte, from netip.AddrPort, err error)

func (f pooledFromCallback[T]) invoke(ctx unsafe.Pointer, c *Completion, n int, err error) {
	var buf []byte
	var from netip.AddrPort
	if id := c.io.offset; id >= 0 {
		whole := c.pool().buffer(uint16(id))
		from = datagramSender(whole)
		buf = whole[datagramPayloadOffset : datagramPayloadOffset+n]
		c.io.offset = -1
	}
	f((*T)(ctx), c, buf, from, err)
}

// datagramSender decodes the sender a pooled datagram buffer names.
func datagramSender(whole []byte) netip.AddrPort {
	var raw sysRawSockaddrAny
	nameLen := min(binary.NativeEndian.Uint32(whole[0:4]), datagramNameBytes)
	copy((*[datagramNameBytes]byte)(unsafe.Pointer(&raw))[:nameLen], whole[datagramOutBytes:])
	return addrPortFromRaw(&raw, nameLen)
}

// writeDatagramHeader fills a pooled datagram buffer's header and name
// region, where the kernel has not (the backends other than io_uring's):
// the sender the msghdr of c holds, payloadBytes received, and the
// message's flags.
func (c *Completion) writeDatagramHeader(whole []byte, payloadBytes int) {
	msg := &c.rare.msg
	nameLen := min(msg.Namelen, datagramNameBytes)
	binary.NativeEndian.PutUint32(whole[0:4], nameLen)
	binary.NativeEndian.PutUint32(whole[4:8], 0)
	binary.NativeEndian.PutUint32(whole[8:12], uint32(payloadBytes))
	binary.NativeEndian.PutUint32(whole[12:16], uint32(msg.Flags))
	copy(whole[datagramOutBytes:datagramPayloadOffset], (*[datagramNameBytes]byte)(unsafe.Pointer(&c.rare.sockaddr))[:nameLen])
}

// pointDatagramReceive aims c's msghdr at buffer whole's payload region
// for one recvmsg(2), with room for the sender in c's sockaddr (the
// backends other than io_uring's).
func (c *Completion) pointDatagramReceive(whole []byte) {
	c.rearmReceive()
	payload := whole[datagramPayloadOffset:]
	iov := &c.rare.iovecs[0]
	iov.Base = unsafe.SliceData(payload)
	iov.SetLen(min(len(payload), maxIOLen))
}
