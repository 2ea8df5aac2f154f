package ioloop

import (
	"fmt"
	"syscall"
	"unsafe"
)

// A BufferPool is a set of equal buffers that pooled receives
// (RecvPooled, RecvMultishot) share: a receive takes a buffer only when
// data arrives, instead of owning one while it waits. An idle connection
// then costs its Completion, not a buffer, which is what lets a server
// hold many connections in little memory.
//
// A buffer is handed to a receive's callback and stays the caller's until
// Release gives it back; the callback may keep it (to parse a request
// later, to send it back) for as long as it likes. When every buffer is
// held, pooled receives wait, without failing and without losing data,
// until Release frees one: the data stays in the socket meanwhile.
//
// A BufferPool belongs to one Loop and, like it, to one goroutine. Its
// memory is one Go allocation of Count()*Size() bytes, made by
// NewBufferPool; no operation allocates.
//
// On io_uring (Linux 6.0 and newer) the buffers are the kernel's
// provided-buffer ring (IORING_REGISTER_PBUF_RING): the kernel picks one
// when data arrives. On the readiness backends the loop takes one when
// the socket is readable. On the simulator, on IOCP (Windows), and on
// io_uring before 6.0, a receive takes its buffer when it is submitted,
// so there a waiting receive holds one. docs/ARCHITECTURE.md ("Buffer pools and multishot
// operations") has the details.
type BufferPool struct {
	loop      *Loop
	slab      []byte
	sizeBytes int
	// held marks the buffers filled by a receive and not released: from
	// the moment the backend learns of the data (so that Free is exact
	// while the callback waits in the completed FIFO) until Release.
	held []bool
	// heldCount counts them.
	heldCount int
	// free is the stack of buffers the loop can hand out itself (the
	// backends without a kernel ring); on io_uring the kernel's ring holds
	// the free buffers instead and free stays empty.
	free []uint16
	// waiters are the pooled receives that found no free buffer, in the
	// order they did; Release wakes the first (see Loop.parkOnPool).
	waiters fifo
	// ring is the kernel's provided-buffer ring, nil where the loop hands
	// out the buffers itself; ringFree counts the buffers given to it that
	// no CQE has reported taken yet.
	ring     poolRing
	ringFree int
	// users counts the operations submitted on the pool whose final
	// callback has not run: Close refuses while there are any.
	users  int
	closed bool
}

// poolRing is a backend's kernel-side home of a pool's free buffers
// (io_uring's provided-buffer ring).
type poolRing interface {
	// give returns buffer id to the kernel.
	give(id uint16)
	// close unregisters the ring; nothing may be in flight on it.
	close()
}

// Limits of NewBufferPool. 32768 is io_uring's largest provided-buffer
// ring; the size bound keeps a buffer's length within what one receive
// transfers (maxIOLen) with room to spare.
const (
	maxPoolBuffers     = 1 << 15
	maxPoolBufferBytes = 1 << 24
)

// NewBufferPool creates a pool of count buffers of size bytes each for
// the pooled receives of l. count must be 1..32768 and size 1..16 MiB;
// otherwise it returns an error that matches syscall.EINVAL. On io_uring
// 6.0 and newer it also registers the kernel's buffer ring, and returns a
// *SetupError wrapping the kernel's error if that fails (such as ENOMEM
// when the kernel cannot pin the ring), and an error matching
// syscall.EMFILE past 65536 open pools on one loop; on older kernels the
// loop hands out the buffers itself.
//
// Loop.Close closes the loop's pools; Close closes one earlier.
func NewBufferPool(l *Loop, count, size int) (*BufferPool, error) {
	if l == nil {
		panic("ioloop: NewBufferPool with a nil *Loop")
	}
	if l.closed || l.closing {
		return nil, ErrClosed
	}
	if count < 1 || count > maxPoolBuffers {
		return nil, fmt.Errorf("ioloop: NewBufferPool: %d buffers, want 1 to %d: %w", count, maxPoolBuffers, syscall.EINVAL)
	}
	if size < 1 || size > maxPoolBufferBytes {
		return nil, fmt.Errorf("ioloop: NewBufferPool: buffers of %d bytes, want 1 to %d: %w", size, maxPoolBufferBytes, syscall.EINVAL)
	}
	p := &BufferPool{loop: l, slab: make([]byte, count*size), sizeBytes: size, held: make([]bool, count)}
	ring, err := l.backendRegisterPool(p)
	if err != nil {
		return nil, err
	}
	p.ring, p.ringFree = ring, count
	if ring == nil {
		p.free = make([]uint16, count)
		for i := range p.free {
			p.free[i] = uint16(count - 1 - i) // buffer 0 on top: handed out first
		}
	}
	l.pools = append(l.pools, p)
	return p, nil
}

// Count returns the number of buffers in the pool.
func (p *BufferPool) Count() int { return len(p.held) }

// Size returns the size of each buffer in bytes.
func (p *BufferPool) Size() int { return p.sizeBytes }

// Free returns the number of buffers not held by the caller: those a
// receive can still fill.
func (p *BufferPool) Free() int { return len(p.held) - p.heldCount }

// buffer returns buffer id's whole memory.
func (p *BufferPool) buffer(id uint16) []byte {
	start := int(id) * p.sizeBytes
	return p.slab[start : start+p.sizeBytes : start+p.sizeBytes]
}

// fill marks buffer id as holding received data, the caller's from its
// callback on.
func (p *BufferPool) fill(id uint16) {
	if p.held[id] {
		panic(fmt.Sprintf("ioloop: internal error: buffer %d of a BufferPool filled twice", id))
	}
	p.held[id] = true
	p.heldCount++
}

// tookFromRing accounts for buffer id, which a CQE reports the kernel
// took from the pool's ring; a buffer the loop never gave the kernel is
// an invariant broken.
func (p *BufferPool) tookFromRing(id uint16) {
	if int(id) >= len(p.held) || p.held[id] {
		panic(fmt.Sprintf("ioloop: internal error: the kernel took buffer %d of a BufferPool of %d, which it did not have", id, len(p.held)))
	}
	p.ringFree--
}

// available returns how many buffers a receive could be given now: those
// in the kernel's ring, or on the loop's free stack.
func (p *BufferPool) available() int {
	if p.ring != nil {
		return p.ringFree
	}
	return len(p.free)
}

// deliver returns the first n bytes of buffer id, for its callback.
func (p *BufferPool) deliver(id uint16, n int) []byte { return p.buffer(id)[:n] }

// take pops a free buffer for the loop to receive into (the backends
// without a kernel ring), or reports false.
func (p *BufferPool) take() (uint16, bool) {
	if len(p.free) == 0 {
		return 0, false
	}
	id := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return id, true
}

// giveBack returns buffer id, which nobody holds, to the pool's free
// buffers (the kernel's ring, or the loop's stack), and submits again the
// first receive waiting for one. Release calls it, and so do the backends
// for a buffer taken for a receive that put nothing in it.
func (p *BufferPool) giveBack(id uint16) {
	if p.closed {
		return
	}
	if p.ring != nil {
		p.ring.give(id)
		p.ringFree++
	} else {
		p.free = append(p.free, id)
	}
	if c := p.waiters.pop(); c != nil {
		c.wait.parked = parkedNone
		p.loop.backend.resubmit(c)
	}
}

// dropUnfilled gives back the buffer a pooled receive took for itself
// (the backends that take one before the data arrives) if the receive
// ends without having filled it: by Cancel, by Close, or by an error
// found before the backend saw the buffer. Loop.record calls it at every
// final result, so no path loses a buffer.
func (c *Completion) dropUnfilled() {
	if c.index < 0 {
		return
	}
	if p := c.pool(); !p.held[c.index] {
		id := uint16(c.index)
		c.index = -1
		p.giveBack(id)
	}
}

// Release gives buf, which a pooled receive's callback received, back to
// the pool, and wakes the first receive waiting for a buffer, if any. buf
// may be any slice of the received bytes, or of the buffer around them,
// that starts inside it (such as buf[:0] or buf[10:]). After Release the
// buffer's memory is the pool's again: the next receive may overwrite it.
//
// Releasing a buffer that is not from this pool, or releasing one twice,
// panics. Releasing after Close is allowed and does nothing more than
// check the buffer, so that connections may be torn down in any order.
func (p *BufferPool) Release(buf []byte) {
	id := p.idOf(buf)
	if !p.held[id] {
		panic(fmt.Sprintf("ioloop: BufferPool.Release: buffer %d released twice (or never received)", id))
	}
	p.held[id] = false
	p.heldCount--
	p.giveBack(id)
}

// idOf returns the buffer buf starts in, or panics if buf does not start
// in one of the pool's buffers.
func (p *BufferPool) idOf(buf []byte) uint16 {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(p.slab)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	if cap(buf) == 0 || at < base || at >= base+uintptr(len(p.slab)) {
		panic("ioloop: BufferPool.Release: the buffer is not one this pool handed out")
	}
	return uint16((at - base) / uintptr(p.sizeBytes))
}

// Close releases the pool's kernel resources. It panics if pooled receives
// are still in flight on it (cancel them first, or close the Loop, which
// cancels them and then closes its pools). Buffers the caller holds stay
// valid memory; Release still accepts them. Closing twice returns
// ErrClosed.
func (p *BufferPool) Close() error {
	if p.closed {
		return ErrClosed
	}
	if p.users > 0 {
		panic(fmt.Sprintf("ioloop: BufferPool.Close with %d pooled receives in flight; cancel them first", p.users))
	}
	p.closed = true
	if p.ring != nil {
		p.ring.close()
		p.ring = nil
	}
	for i, q := range p.loop.pools {
		if q == p {
			p.loop.pools = append(p.loop.pools[:i], p.loop.pools[i+1:]...)
			break
		}
	}
	return nil
}

// parkOnPool makes c, a pooled receive that found no free buffer, wait for
// Release. It stays in flight and counted in pending; Cancel and Close
// find it in the pool's waiters (cancelHeldByLoop, cancelPoolWaiters).
// During Close nothing is parked: it ends with ErrCanceled.
func (l *Loop) parkOnPool(c *Completion, p *BufferPool) {
	if l.closing {
		l.completeWith(c, 0, codeCanceled)
		return
	}
	if p.available() > 0 {
		// A buffer came back between the backend's ENOBUFS and now. (On
		// io_uring a buffer the kernel took for a receive whose CQE has
		// not been reaped yet also counts, until that CQE arrives: then
		// c meets ENOBUFS again, at most for as long as the kernel takes
		// to post it.)
		l.backend.resubmit(c)
		return
	}
	c.wait.parked = parkedPool
	p.waiters.push(c)
}

// cancelPoolWaiters ends every receive waiting for a buffer with
// ErrCanceled (Close).
func (l *Loop) cancelPoolWaiters() {
	for _, p := range l.pools {
		for c := p.waiters.pop(); c != nil; c = p.waiters.pop() {
			c.wait.parked = parkedNone
			l.completeWith(c, 0, codeCanceled)
		}
	}
}

// closePools closes the loop's pools once nothing is in flight (Close).
func (l *Loop) closePools() {
	for len(l.pools) > 0 {
		p := l.pools[len(l.pools)-1]
		p.users = 0 // every receive has had its final callback
		p.Close()
	}
}

// poolBuffersFree sums the free buffers over the loop's pools (Stats).
func (l *Loop) poolBuffersFree() int {
	free := 0
	for _, p := range l.pools {
		free += p.Free()
	}
	return free
}

// poolRegistrar is implemented by the backends that keep a pool's free
// buffers in the kernel (io_uring's provided-buffer rings).
type poolRegistrar interface {
	// registerPool gives the kernel p's buffers, or returns a nil ring
	// (and no error) where the kernel cannot take them.
	registerPool(p *BufferPool) (poolRing, error)
}

// backendRegisterPool registers p with the backend if it keeps free
// buffers in the kernel.
func (l *Loop) backendRegisterPool(p *BufferPool) (poolRing, error) {
	if r, ok := l.backend.(poolRegistrar); ok {
		return r.registerPool(p)
	}
	return nil, nil
}

// takesAtSubmission reports whether the pool's stream receives take their
// buffer when submitted, not when data arrives: on the simulator and on
// io_uring without provided-buffer rings. There a waiting receive holds a
// buffer, so a pool serves at most as many idle connections as it has
// buffers. (IOCP's datagram receives take theirs at submission too:
// backend_iocp_pool_windows.go.)
func (p *BufferPool) takesAtSubmission() bool {
	kind := p.loop.Backend()
	return p.ring == nil && (kind == BackendSimulator || kind == BackendIOUring)
}
