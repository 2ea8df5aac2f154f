//go:build linux

package main

/*
#include "ioloop_impl.h"
*/
import "C"

import (
	"math"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ioloop/ioloop"
)

// drainSubmissions hands the C submission list to the Go loop, in order.
func (cl *cloop) drainSubmissions() {
	for cl.c.sq_head != nil || cl.draining != nil {
		cl.drainSome()
	}
}

// drainSome submits from cl.draining, refilled from the C list, until a
// panic or the end. A panic of the Go API (a misuse that the C side
// cannot see, such as a second wait on one event) is recovered here, once
// per list rather than per operation (a deferred recover per operation
// was 2.4% of a NOP profile's samples), and delivered to the panicking
// completion's callback as IOLOOP_EMISUSE: the Go Completion is still
// idle then, because the Go API panics before it submits. The caller
// loops to submit the rest.
func (cl *cloop) drainSome() {
	defer func() {
		if r := recover(); r != nil {
			cc := cl.submitting
			cl.ready(cc, recovered(cl.c, r))
			if cl.chainOpen && cc.link&C.IOLOOP_LINK_LAST != 0 {
				cl.endChain()
			}
		}
	}()
	for {
		if cl.draining == nil {
			cl.draining = cl.c.sq_head
			cl.c.sq_head, cl.c.sq_tail, cl.c.sq_len = nil, nil, 0
			if cl.draining == nil {
				return
			}
		}
		cc := cl.draining
		cl.draining = cc.next // read first: submitting may complete cc and link it elsewhere
		cl.submitting = cc
		if cc.link&C.IOLOOP_LINK_FIRST != 0 {
			cl.l.BeginChain()
			cl.chainOpen = true
		}
		cl.submit(cc)
		if cl.chainOpen {
			if cc.state == C.IOLOOP_STATE_GO { // not rejected on this side
				cl.chainMembers = append(cl.chainMembers, cc)
			}
			if cc.link&C.IOLOOP_LINK_LAST != 0 {
				cl.endChain()
			}
		}
	}
}

// endChain submits the chain drainSome has been building (Loop.EndChain).
// EndChain panics only for a chain too long for io_uring's submission
// queue, after taking every operation back (idle, no callback): each C
// completion of the chain then gets the panic's code.
func (cl *cloop) endChain() {
	cl.chainOpen = false
	defer func() {
		if r := recover(); r != nil {
			code := recovered(cl.c, r)
			for _, cc := range cl.chainMembers {
				cl.ready(cc, code)
			}
		}
		clear(cl.chainMembers)
		cl.chainMembers = cl.chainMembers[:0]
	}()
	cl.l.EndChain()
}

// submit hands one C completion to the Go loop (see drainSome for panics).
func (cl *cloop) submit(cc *C.ioloop_cimpl) {
	s := cl.slotFor(cc)
	s.cc = cc
	cc.state = C.IOLOOP_STATE_GO
	l, c := cl.l, &s.comp
	switch cc.op {
	case C.IOLOOP_OP_NOP:
		ioloop.Nop(l, c, s, (*slot).onError)
	case C.IOLOOP_OP_NEXT_TICK:
		ioloop.NextTick(l, c, s, (*slot).onError)
	case C.IOLOOP_OP_TIMEOUT:
		ioloop.Timeout(l, c, time.Duration(cc.offset), s, (*slot).onError)
	case C.IOLOOP_OP_CANCEL:
		target := cl.slotFor((*C.ioloop_cimpl)(cc.ptr))
		ioloop.Cancel(l, c, &target.comp, s, (*slot).onError)
	case C.IOLOOP_OP_ACCEPT:
		ioloop.Accept(l, c, int(cc.fd), s, (*slot).onCount)
	case C.IOLOOP_OP_CONNECT:
		addr, path, errno := decodeSockaddr(cc.ptr, uint64(cc.len))
		switch {
		case errno != 0:
			cl.ready(cc, -int32(errno))
		case path != "":
			ioloop.ConnectUnix(l, c, int(cc.fd), path, s, (*slot).onError)
		default:
			ioloop.Connect(l, c, int(cc.fd), addr, s, (*slot).onError)
		}
	case C.IOLOOP_OP_RECV:
		ioloop.Recv(l, c, int(cc.fd), buffer(cc), s, (*slot).onCount)
	case C.IOLOOP_OP_SEND:
		if cc.len > math.MaxInt32 {
			cl.ready(cc, -int32(syscall.EINVAL))
			return
		}
		ioloop.Send(l, c, int(cc.fd), buffer(cc), s, (*slot).onCount)
	case C.IOLOOP_OP_SENDTO:
		addr, path, errno := decodeSockaddr(cc.ptr2, uint64(cc.len2))
		if errno == 0 && path != "" {
			errno = syscall.EAFNOSUPPORT
		}
		if errno != 0 {
			cl.ready(cc, -int32(errno))
			return
		}
		ioloop.SendTo(l, c, int(cc.fd), buffer(cc), addr, s, (*slot).onCount)
	case C.IOLOOP_OP_RECVFROM:
		ioloop.RecvFrom(l, c, int(cc.fd), buffer(cc), s, (*slot).onRecvFrom)
	case C.IOLOOP_OP_SHUTDOWN:
		ioloop.Shutdown(l, c, int(cc.fd), int(cc.flags), s, (*slot).onError)
	case C.IOLOOP_OP_CLOSE:
		ioloop.Close(l, c, int(cc.fd), s, (*slot).onError)
	case C.IOLOOP_OP_READ:
		ioloop.Read(l, c, int(cc.fd), buffer(cc), int64(cc.offset), s, (*slot).onCount)
	case C.IOLOOP_OP_WRITE:
		ioloop.Write(l, c, int(cc.fd), buffer(cc), int64(cc.offset), s, (*slot).onCount)
	case C.IOLOOP_OP_WRITE_DURABLE:
		ioloop.WriteDurable(l, c, int(cc.fd), buffer(cc), int64(cc.offset), ioloop.Durability(cc.flags), s, (*slot).onCount)
	case C.IOLOOP_OP_READV:
		ioloop.Readv(l, c, int(cc.fd), s.vector(cc), int64(cc.offset), s, (*slot).onCount)
	case C.IOLOOP_OP_WRITEV:
		ioloop.Writev(l, c, int(cc.fd), s.vector(cc), int64(cc.offset), s, (*slot).onCount)
	case C.IOLOOP_OP_FSYNC:
		ioloop.Fsync(l, c, int(cc.fd), s, (*slot).onError)
	case C.IOLOOP_OP_FDATASYNC:
		ioloop.Fdatasync(l, c, int(cc.fd), s, (*slot).onError)
	case C.IOLOOP_OP_OPENAT:
		ioloop.OpenAt(l, c, int(cc.fd), cString(cc.ptr), int(cc.flags), uint32(cc.mode), s, (*slot).onCount)
	case C.IOLOOP_OP_FALLOCATE:
		ioloop.Fallocate(l, c, int(cc.fd), uint32(cc.mode), int64(cc.offset), int64(cc.len2), s, (*slot).onError)
	case C.IOLOOP_OP_FTRUNCATE:
		ioloop.Ftruncate(l, c, int(cc.fd), int64(cc.len2), s, (*slot).onError)
	case C.IOLOOP_OP_RENAMEAT:
		ioloop.Renameat(l, c, int(cc.fd), cString(cc.ptr), int(cc.fd2), cString(cc.ptr2), uint32(cc.flags), s, (*slot).onError)
	case C.IOLOOP_OP_UNLINKAT:
		ioloop.Unlinkat(l, c, int(cc.fd), cString(cc.ptr), int(cc.flags), s, (*slot).onError)
	case C.IOLOOP_OP_MKDIRAT:
		ioloop.Mkdirat(l, c, int(cc.fd), cString(cc.ptr), uint32(cc.mode), s, (*slot).onError)
	case C.IOLOOP_OP_LINKAT:
		ioloop.Linkat(l, c, int(cc.fd), cString(cc.ptr), int(cc.fd2), cString(cc.ptr2), int(cc.flags), s, (*slot).onError)
	case C.IOLOOP_OP_SYMLINKAT:
		ioloop.Symlinkat(l, c, cString(cc.ptr), int(cc.fd2), cString(cc.ptr2), s, (*slot).onError)
	case C.IOLOOP_OP_FADVISE:
		ioloop.Fadvise(l, c, int(cc.fd), int64(cc.offset), int64(cc.len2), int(cc.flags), s, (*slot).onError)
	case C.IOLOOP_OP_SYNC_FILE_RANGE:
		ioloop.SyncFileRange(l, c, int(cc.fd), int64(cc.offset), int64(cc.len2), int(cc.flags), s, (*slot).onError)
	case C.IOLOOP_OP_WAIT_EVENT:
		e := eventOf((*C.ioloop_event)(cc.ptr))
		if e == nil {
			cl.ready(cc, codeMisuse)
			return
		}
		ioloop.WaitEvent(l, c, e, s, (*slot).onCount)
	case C.IOLOOP_OP_STATX:
		ioloop.Statx(l, c, int(cc.fd), cString(cc.ptr), int(cc.flags), int(cc.mode), (*unix.Statx_t)(cc.ptr2), s, (*slot).onError)
	case C.IOLOOP_OP_SENDMSG:
		msg := (*C.struct_msghdr)(cc.ptr)
		var to netip.AddrPort
		if msg.msg_name != nil {
			addr, path, errno := decodeSockaddr(msg.msg_name, uint64(msg.msg_namelen))
			if errno == 0 && path != "" {
				errno = syscall.EAFNOSUPPORT // the Go API sends to a unix peer only through a connected socket
			}
			if errno != 0 {
				cl.ready(cc, -int32(errno))
				return
			}
			to = addr
		}
		ioloop.SendMsg(l, c, int(cc.fd), s.iovecs(unsafe.Pointer(msg.msg_iov), int(msg.msg_iovlen)), control(msg), to, s, (*slot).onCount)
	case C.IOLOOP_OP_RECVMSG:
		msg := (*C.struct_msghdr)(cc.ptr)
		ioloop.RecvMsg(l, c, int(cc.fd), s.iovecs(unsafe.Pointer(msg.msg_iov), int(msg.msg_iovlen)), control(msg), s, (*slot).onRecvMsg)
	case C.IOLOOP_OP_LINK_TIMEOUT:
		ioloop.LinkTimeout(l, c, time.Duration(cc.offset), s, (*slot).onError)
	case C.IOLOOP_OP_RECV_POOLED, C.IOLOOP_OP_RECV_MULTISHOT, C.IOLOOP_OP_RECVFROM_MULTISHOT:
		pool := cl.pooledSlot(s, (*C.ioloop_pool)(cc.ptr))
		switch {
		case pool == nil:
		case cc.op == C.IOLOOP_OP_RECV_POOLED:
			ioloop.RecvPooled(l, c, int(cc.fd), pool, s, (*slot).onPooled)
		case cc.op == C.IOLOOP_OP_RECV_MULTISHOT:
			ioloop.RecvMultishot(l, c, int(cc.fd), pool, s, (*slot).onPooled)
		default:
			ioloop.RecvFromMultishot(l, c, int(cc.fd), pool, s, (*slot).onPooledFrom)
		}
	case C.IOLOOP_OP_ACCEPT_MULTISHOT:
		ioloop.AcceptMultishot(l, c, int(cc.fd), s, (*slot).onAcceptShot)
	case C.IOLOOP_OP_WRITEV_DURABLE:
		ioloop.WritevDurable(l, c, int(cc.fd), s.vector(cc), int64(cc.offset), ioloop.Durability(cc.flags), s, (*slot).onCount)
	case C.IOLOOP_OP_READ_FIXED:
		ioloop.ReadFixed(l, c, int(cc.fd), buffer(cc), int64(cc.offset), s, (*slot).onCount)
	case C.IOLOOP_OP_WRITE_FIXED:
		ioloop.WriteFixed(l, c, int(cc.fd), buffer(cc), int64(cc.offset), s, (*slot).onCount)
	case C.IOLOOP_OP_SEND_ZC:
		if cc.len > math.MaxInt32 {
			cl.ready(cc, -int32(syscall.EINVAL))
			return
		}
		ioloop.SendZC(l, c, int(cc.fd), buffer(cc), s, (*slot).onCount)
	default:
		setError(cl.c, "ioloop: a completion with an unknown operation was submitted (its memory was overwritten?)")
		cl.ready(cc, codeMisuse)
	}
}

// buffer is the C buffer of cc as a slice (C memory: the garbage collector
// ignores it, the kernel reads or writes it).
func buffer(cc *C.ioloop_cimpl) []byte {
	if cc.len == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(cc.ptr), int(cc.len))
}

// vector is the C iovec array of cc as the [][]byte the Go API takes,
// built in the slot's reused slice.
func (s *slot) vector(cc *C.ioloop_cimpl) [][]byte {
	return s.iovecs(cc.ptr, int(cc.len))
}

// iovecs is the C iovec array p of n entries as a [][]byte, built in the
// slot's reused slice.
func (s *slot) iovecs(p unsafe.Pointer, n int) [][]byte {
	s.bufs = s.bufs[:0]
	if n == 0 {
		return s.bufs
	}
	iov := unsafe.Slice((*C.struct_iovec)(p), n)
	for i := range iov {
		var b []byte
		if iov[i].iov_len > 0 {
			b = unsafe.Slice((*byte)(iov[i].iov_base), int(iov[i].iov_len))
		}
		s.bufs = append(s.bufs, b)
	}
	return s.bufs
}

// control is the control-data buffer of a C msghdr as a slice (C memory).
func control(msg *C.struct_msghdr) []byte {
	if msg.msg_controllen == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(msg.msg_control), int(msg.msg_controllen))
}

// cString views a NUL-terminated C string as a Go string without copying;
// the Go API copies paths at submission, so the view does not outlive it.
func cString(p unsafe.Pointer) string {
	return unsafe.String((*byte)(p), int(C.strlen((*C.char)(p))))
}

// The Go callbacks of a slot, one per shape of the Go API.

func (s *slot) onError(_ *ioloop.Completion, err error) {
	result := int32(0)
	if err != nil {
		result = resultOf(0, err)
	}
	s.cl.ready(s.cc, result)
}

func (s *slot) onCount(_ *ioloop.Completion, n int, err error) {
	result := int32(n)
	if err != nil || n > math.MaxInt32 {
		result = resultOf(n, err)
	}
	s.cl.ready(s.cc, result)
}

func (s *slot) onRecvFrom(_ *ioloop.Completion, n int, from netip.AddrPort, err error) {
	cc := s.cc
	if err == nil && cc.ptr2 != nil {
		lenPtr := (*C.socklen_t)(cc.ptr3)
		*lenPtr = C.socklen_t(encodeSockaddr(from, cc.ptr2, uint32(*lenPtr)))
	}
	s.cl.ready(cc, resultOf(n, err))
}

// onRecvMsg writes recvmsg(2)'s results back into the C msghdr, as the
// system call would, before the C callback runs.
func (s *slot) onRecvMsg(_ *ioloop.Completion, n, oobn, flags int, from netip.AddrPort, err error) {
	cc := s.cc
	if err == nil {
		msg := (*C.struct_msghdr)(cc.ptr)
		msg.msg_controllen = C.size_t(oobn)
		msg.msg_flags = C.int(flags)
		if msg.msg_name != nil {
			msg.msg_namelen = C.socklen_t(encodeSockaddr(from, msg.msg_name, uint32(msg.msg_namelen)))
		}
	}
	s.cl.ready(cc, resultOf(n, err))
}
