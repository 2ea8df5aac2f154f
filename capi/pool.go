//go:build linux

package main

/*
#include <stdlib.h>
#include "ioloop_impl.h"
*/
import "C"

import (
	"errors"
	"net/netip"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/ioloop/ioloop"
)

// Buffer pools and multishot operations.
//
// A pool's buffers are one Go allocation (ioloop.NewBufferPool's slab).
// A pooled receive hands C a pointer into it, which C keeps until
// ioloop_pool_release: the cgo rules allow that only for pinned memory, so
// the first buffer a pool delivers pins the slab (runtime.Pinner; Pin
// pins the whole object an interior pointer points into) until the loop
// closes. The Go garbage collector does not move heap objects anyway; the
// pin is what makes keeping the pointer legal.
//
// A multishot operation's results can outnumber the C completion's one
// place on the ready list: when a result arrives for a completion already
// on the list (two shots in one pass), ready delivers the list to C first,
// from inside the Go callback, and then queues the new result. The common
// case, one shot per completion per pass, keeps the one-call-per-pass
// delivery.

// cpool is the Go half of a C pool handle.
type cpool struct {
	p      *ioloop.BufferPool
	c      *C.ioloop_pool
	pinner runtime.Pinner
	pinned bool
}

// poolOf returns the Go pool of a C handle, or nil.
func poolOf(pool *C.ioloop_pool) (*cloop, *cpool) {
	cl := lookup(uint32(pool.loop_id))
	if cl == nil || int(pool.index) >= len(cl.pools) {
		return nil, nil
	}
	return cl, cl.pools[pool.index]
}

//export ioloopgo_pool_new
func ioloopgo_pool_new(loop *C.ioloop_loop, count, size C.uint32_t, out **C.ioloop_pool) (rc C.int) {
	cl := loopOf(loop)
	if cl == nil {
		return C.int(codeMisuse)
	}
	defer func() {
		if r := recover(); r != nil {
			rc = C.int(recovered(loop, r))
		}
	}()
	if count > 1<<20 || size > 1<<30 { // beyond the Go API's limits, and far from int overflow
		setError(loop, "ioloop: ioloop_pool_new: count or size out of range")
		return -C.int(syscall.EINVAL)
	}
	p, err := ioloop.NewBufferPool(cl.l, int(count), int(size))
	if err != nil {
		setError(loop, err.Error())
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return -C.int(errno)
		}
		return C.int(codeBackend)
	}
	h := (*C.ioloop_pool)(C.calloc(1, C.sizeof_struct_ioloop_pool))
	h.loop_id = C.uint32_t(cl.id)
	h.index = C.uint32_t(len(cl.pools))
	h.loop = loop
	cl.pools = append(cl.pools, &cpool{p: p, c: h})
	*out = h
	return 0
}

//export ioloopgo_pool_close
func ioloopgo_pool_close(pool *C.ioloop_pool) (rc C.int) {
	cl, cp := poolOf(pool)
	if cp == nil {
		return C.int(codeMisuse)
	}
	defer func() {
		if r := recover(); r != nil {
			rc = C.int(recovered(cl.c, r))
		}
	}()
	if err := cp.p.Close(); err != nil {
		setError(cl.c, err.Error())
		return C.int(codeMisuse)
	}
	pool.closed = 1
	return 0
}

//export ioloopgo_pool_free
func ioloopgo_pool_free(pool *C.ioloop_pool) C.uint32_t {
	if _, cp := poolOf(pool); cp != nil {
		return C.uint32_t(cp.p.Free())
	}
	return 0
}

//export ioloopgo_pool_release
func ioloopgo_pool_release(pool *C.ioloop_pool, buf unsafe.Pointer) (rc C.int) {
	cl, cp := poolOf(pool)
	if cp == nil {
		return C.int(codeMisuse)
	}
	defer func() {
		if r := recover(); r != nil {
			rc = C.int(recovered(cl.c, r))
		}
	}()
	cp.p.Release(unsafe.Slice((*byte)(buf), 1))
	return 0
}

//export ioloopgo_completion_from
func ioloopgo_completion_from(loop *C.ioloop_loop, cc *C.ioloop_cimpl, out *C.struct_sockaddr_storage, outLen *C.socklen_t) C.int {
	cl := loopOf(loop)
	if cl == nil || int(cc.slot)-1 >= len(cl.slots) {
		return C.int(codeMisuse)
	}
	x := cl.slots[cc.slot-1].x
	if x == nil {
		return C.int(codeMisuse)
	}
	from := x.from
	if !from.IsValid() {
		*outLen = 0
		return -C.int(syscall.EAFNOSUPPORT)
	}
	*outLen = C.socklen_t(encodeSockaddr(from, unsafe.Pointer(out), C.sizeof_struct_sockaddr_storage))
	return 0
}

// slotExtra is the state of a slot's pooled receives, kept out of the
// slot to keep it at 192 bytes: allocated on the slot's first pooled
// receive, reused ever after.
type slotExtra struct {
	pool *cpool
	from netip.AddrPort
}

// pooledSlot prepares s for a pooled receive on the pool of handle h; it
// returns nil (and delivers IOLOOP_EMISUSE) when h is not a pool of cl.
func (cl *cloop) pooledSlot(s *slot, h *C.ioloop_pool) *ioloop.BufferPool {
	owner, cp := poolOf(h)
	if owner != cl || cp == nil {
		setError(cl.c, "ioloop: a pooled receive with a pool of another loop")
		cl.ready(s.cc, codeMisuse)
		return nil
	}
	if s.x == nil {
		s.x = &slotExtra{}
	}
	s.x.pool = cp
	s.x.from = netip.AddrPort{}
	return cp.p
}

// closePools unpins the loops' pools and frees their handles (Loop.Close
// has closed the pools themselves).
func (cl *cloop) closePools() {
	for _, cp := range cl.pools {
		cp.pinner.Unpin()
		C.free(unsafe.Pointer(cp.c))
	}
	cl.pools = nil
}

// shot records a pooled or multishot result in the C completion: its
// buffer (pinning the pool's memory on its first delivery) and whether
// more results will come.
func (s *slot) shot(c *ioloop.Completion, buf []byte, result int32) {
	cc := s.cc
	if cc.state == C.IOLOOP_STATE_READY { // the previous shot waits for its callback
		s.cl.deliverReady()
	}
	cc.ptr2 = nil
	if len(buf) > 0 {
		data := unsafe.SliceData(buf)
		if cp := s.x.pool; !cp.pinned {
			cp.pinner.Pin(data)
			cp.pinned = true
		}
		cc.ptr2 = unsafe.Pointer(data)
	}
	cc.more = 0
	if c.More() {
		cc.more = 1
	}
	s.cl.ready(cc, result)
}

func (s *slot) onPooled(c *ioloop.Completion, buf []byte, err error) {
	result := int32(len(buf))
	if err != nil {
		result = resultOf(0, err)
	}
	s.shot(c, buf, result)
}

func (s *slot) onPooledFrom(c *ioloop.Completion, buf []byte, from netip.AddrPort, err error) {
	s.x.from = from
	s.onPooled(c, buf, err)
}

func (s *slot) onAcceptShot(c *ioloop.Completion, fd int, err error) {
	cc := s.cc
	if cc.state == C.IOLOOP_STATE_READY {
		s.cl.deliverReady()
	}
	cc.more = 0
	if c.More() {
		cc.more = 1
	}
	s.cl.ready(cc, resultOf(fd, err))
}

// deliverReady runs the C callbacks of the ready list now, from inside a
// Go callback (see the comment at the top of this file). Their
// submissions are drained after the pass, as usual.
func (cl *cloop) deliverReady() {
	if head := cl.readyHead; head != nil {
		cl.readyHead, cl.readyTail = nil, nil
		C.ioloop__deliver(cl.c, head)
	}
}
