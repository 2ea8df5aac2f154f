package ioloop

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/ioloop/ioloop/internal/uring"
	"golang.org/x/sys/unix"
)

// Buffer pools and multishot operations on io_uring (pool.go,
// ops_pooled.go).
//
// A BufferPool's buffers are a provided-buffer ring (5.19): a pooled
// receive is a RECV with IOSQE_BUFFER_SELECT naming the ring's group, and
// the kernel picks a buffer only when data arrives, reporting it in the
// CQE (IORING_CQE_F_BUFFER). RecvMultishot adds IORING_RECV_MULTISHOT
// (6.0) and AcceptMultishot IORING_ACCEPT_MULTISHOT (5.19): one SQE, a CQE
// per result with IORING_CQE_F_MORE while the request stays armed.
//
// Where the kernel lacks them (before 6.0, taken as one feature so that
// there is one fallback, not three), the loop does what the simulator
// does: a pooled receive takes a buffer from the pool when it is
// submitted and is a plain RECV into it, and a multishot operation is a
// single-shot one that the loop submits again after each shot. The API
// and its results are the same; what differs is that a waiting receive
// holds a buffer, so a pool serves as many idle connections as it has
// buffers (docs/ARCHITECTURE.md, "Buffer pools").

// uringPoolRing is a BufferPool's provided-buffer ring.
type uringPoolRing struct {
	backend *uringBackend
	ring    *uring.BufRing
	pool    *BufferPool
}

// give implements poolRing: buffer id goes back to the kernel at once
// (one atomic store), so that a receive waiting in the kernel can take it.
func (r *uringPoolRing) give(id uint16) {
	r.ring.Add(r.pool.bufferAddr(id), uint32(r.pool.sizeBytes), id, 0)
	r.ring.Advance(1)
}

// close implements poolRing.
func (r *uringPoolRing) close() {
	group := r.ring.Group()
	if err := r.ring.Close(); err != nil {
		panic("ioloop: internal error: unregistering a provided-buffer ring: " + err.Error())
	}
	r.backend.freeGroups = append(r.backend.freeGroups, group)
}

// bufferAddr is the address of buffer id, for the kernel.
func (p *BufferPool) bufferAddr(id uint16) uintptr {
	return uintptr(unsafe.Pointer(&p.slab[int(id)*p.sizeBytes]))
}

// uringPretendNoBufRings, when set (by whitebox tests only, before New),
// makes the backend behave as on a kernel without provided-buffer rings
// and multishot, so that the fallback is tested on a new kernel.
var uringPretendNoBufRings bool

// detectBufRings decides whether the kernel has provided-buffer rings and
// multishot receive: Linux 6.0 or newer. There is no probe for either
// (they are flags of existing opcodes and a register opcode), and a
// registration that fails on an old kernel would say only EINVAL.
func (b *uringBackend) detectBufRings() {
	var uts unix.Utsname
	b.bufRings = !uringPretendNoBufRings && unix.Uname(&uts) == nil && kernelAtLeast(unix.ByteSliceToString(uts.Release[:]), 6, 0)
	// Pooled receives pass divert, which takes their buffer where the
	// kernel cannot (takeFallbackBuffer).
	for op := range pooledOps {
		b.diverted[op] = b.diverted[op] || pooledOps[op] && !b.bufRings
	}
}

// kernelAtLeast reports whether a kernel release string ("6.18.0-1-amd64")
// is version major.minor or newer.
func kernelAtLeast(release string, major, minor int) bool {
	fields := strings.SplitN(release, ".", 3)
	if len(fields) < 2 {
		return false
	}
	gotMajor, err1 := strconv.Atoi(fields[0])
	end := strings.IndexFunc(fields[1], func(r rune) bool { return r < '0' || r > '9' })
	if end >= 0 {
		fields[1] = fields[1][:end]
	}
	gotMinor, err2 := strconv.Atoi(fields[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return gotMajor > major || gotMajor == major && gotMinor >= minor
}

// registerPool implements poolRegistrar: p's buffers become a new
// provided-buffer ring, every one of them given to the kernel.
func (b *uringBackend) registerPool(p *BufferPool) (poolRing, error) {
	if !b.bufRings {
		return nil, nil
	}
	var group uint16
	switch n := len(b.freeGroups); {
	case n > 0:
		group = b.freeGroups[n-1]
		b.freeGroups = b.freeGroups[:n-1]
	case b.nextGroup == maxBufferGroups:
		return nil, fmt.Errorf("ioloop: NewBufferPool: %d pools are open on this loop: %w", maxBufferGroups, syscall.EMFILE)
	default:
		group = uint16(b.nextGroup)
		b.nextGroup++
	}
	entries := uint32(1)
	for entries < uint32(p.Count()) {
		entries <<= 1
	}
	br, err := b.ring.RegisterBufRing(entries, group)
	if err != nil {
		b.freeGroups = append(b.freeGroups, group)
		return nil, &SetupError{Backend: BackendIOUring, Err: err, Reason: "registering a provided-buffer ring (IORING_REGISTER_PBUF_RING) failed"}
	}
	ring := &uringPoolRing{backend: b, ring: br, pool: p}
	for id := 0; id < p.Count(); id++ {
		br.Add(p.bufferAddr(uint16(id)), uint32(p.sizeBytes), uint16(id), uint16(id))
	}
	br.Advance(uint16(p.Count()))
	return ring, nil
}

// maxBufferGroups is the number of buffer group ids (sqe.buf_group is 16
// bits).
const maxBufferGroups = 1 << 16

// takeFallbackBuffer gives a pooled receive its buffer at submission where
// the kernel cannot pick one (see the top of this file), and reports
// whether it took c away instead: with no buffer free, c waits on its pool
// for a Release (Loop.parkOnPool).
func (b *uringBackend) takeFallbackBuffer(c *Completion) bool {
	if c.index >= 0 {
		return false // resubmitted with the buffer it took
	}
	id, ok := c.pool().take()
	if !ok {
		c.state = stateInFlight
		b.loop.parkOnPool(c, c.pool())
		return true
	}
	c.index = int32(id)
	return false
}

// prepPooled fills the SQE of a pooled receive or a multishot accept.
func (b *uringBackend) prepPooled(sqe *uring.SQE, c *Completion) {
	if c.op == opAcceptMultishot {
		sqe.Opcode = uring.OpAccept
		sqe.OpFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
		if b.bufRings {
			sqe.IOPrio = uring.AcceptMultishot
		}
		return
	}
	p := c.pool()
	if c.op == opRecvFromMultishot {
		// RECVMSG over c's msghdr. With a ring the kernel lays each
		// datagram out in the buffer it picks (ops_pooled_udp.go) and
		// reads only the msghdr's name and control lengths; without one
		// it is a plain recvmsg into the payload region.
		sqe.Opcode = uring.OpRecvmsg
		sqe.Addr = uint64(uintptr(unsafe.Pointer(&c.rare.msg)))
		sqe.Len = 1
		if p.ring == nil {
			c.pointDatagramReceive(p.buffer(uint16(c.index)))
			return
		}
		msg := &c.rare.msg
		msg.Iov, msg.Namelen, msg.Flags = nil, datagramNameBytes, 0
		msg.SetIovlen(0)
		msg.SetControllen(0)
	} else {
		sqe.Opcode = uring.OpRecv
		if p.ring == nil {
			setBuffer(sqe, p.buffer(uint16(c.index)))
			return
		}
		// Len 0: the kernel receives up to the picked buffer's length.
	}
	sqe.Flags |= uring.SQEBufferSelect
	sqe.BufIndex = p.ring.(*uringPoolRing).ring.Group()
	if c.op != opRecvPooled {
		sqe.IOPrio = uring.RecvMultishot
	}
}

// completePooled takes one CQE of a pooled receive or a multishot accept:
// a buffer the kernel took is filled or given back, a shot is delivered
// (Loop.deliverShot), and a multishot the kernel ended while healthy (no
// IORING_CQE_F_MORE on a success: a full CQ, or the fallback's single
// shot) is armed again; any other result is the operation's final one,
// which Loop.complete interprets (ENOBUFS waits on the pool, 0 is io.EOF
// on a stream).
func (b *uringBackend) completePooled(c *Completion, res int32, flags uint32) {
	l := b.loop
	bufID := int32(-1)
	// success: res is a result to deliver, not a final one. A datagram
	// of zero bytes is one; a stream's 0 is its end.
	datagram := c.op == opRecvFromMultishot
	success := res > 0 || res == 0 && (datagram || c.op == opAcceptMultishot)
	n := res
	if c.op != opAcceptMultishot {
		p := c.pool()
		switch {
		case p.ring == nil:
			bufID, c.index = c.index, -1 // the loop's, taken at submission
			if datagram && success {
				c.writeDatagramHeader(p.buffer(uint16(bufID)), int(res))
			}
		case flags&uring.CQEFBuffer != 0:
			bufID = int32(flags >> uring.CQEBufferShift)
			p.tookFromRing(uint16(bufID))
			if datagram && success {
				n = res - datagramPayloadOffset // the kernel counts its header and the name
			}
		}
		switch {
		case bufID >= 0 && success:
			p.fill(uint16(bufID))
		case bufID >= 0:
			p.giveBack(uint16(bufID))
			bufID = -1
		case success:
			l.invariantBroken(c, "a pooled receive's data without a buffer")
		}
	}
	more := flags&uring.CQEFMore != 0
	if !success {
		if more {
			l.invariantBroken(c, "a multishot's final result with IORING_CQE_F_MORE")
		}
		if res == -int32(syscall.EAGAIN) {
			b.retryReceive(c)
			return
		}
		l.complete(c, res)
		return
	}
	if c.op == opRecvPooled {
		c.setDelivered(bufID)
		l.complete(c, res)
		return
	}
	l.deliverShot(c, n, bufID)
	if more {
		return
	}
	if c.send.cancelsInFlight > 0 || l.isClosing() {
		l.completeWith(c, 0, codeCanceled)
		return
	}
	b.resubmit(c)
}
