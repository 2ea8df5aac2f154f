//go:build linux

package main

/*
#include "ioloop_impl.h"
*/
import "C"

import (
	"errors"
	"syscall"
	"unsafe"

	"github.com/ioloop/ioloop"
)

// errnoCode converts an error of a plain (callback-less) Go call to a C
// result: its errno, negated, or IOLOOP_EINTERNAL.
func errnoCode(loop *C.ioloop_loop, err error) C.int {
	if err == nil {
		return 0
	}
	setError(loop, err.Error())
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return -C.int(errno)
	}
	return C.int(codeInternal)
}

//export ioloopgo_register_file
func ioloopgo_register_file(loop *C.ioloop_loop, fd C.int, add C.int) (rc C.int) {
	cl := loopOf(loop)
	if cl == nil {
		return C.int(codeMisuse)
	}
	defer func() {
		if r := recover(); r != nil {
			rc = C.int(recovered(loop, r))
		}
	}()
	if add != 0 {
		return errnoCode(loop, cl.l.RegisterFile(int(fd)))
	}
	return errnoCode(loop, cl.l.UnregisterFile(int(fd)))
}

//export ioloopgo_register_buffers
func ioloopgo_register_buffers(loop *C.ioloop_loop, iov *C.struct_iovec, n C.int) (rc C.int) {
	cl := loopOf(loop)
	if cl == nil {
		return C.int(codeMisuse)
	}
	defer func() {
		if r := recover(); r != nil {
			rc = C.int(recovered(loop, r))
		}
	}()
	if n < 0 {
		return errnoCode(loop, cl.l.UnregisterBuffers())
	}
	// C memory: the Go loop keeps these slices (C pointers in Go memory,
	// which cgo allows) until the buffers are replaced or unregistered.
	bufs := make([][]byte, int(n))
	for i, v := range unsafe.Slice(iov, int(n)) {
		if v.iov_base != nil {
			bufs[i] = unsafe.Slice((*byte)(v.iov_base), int(v.iov_len))
		}
	}
	return errnoCode(loop, cl.l.RegisterBuffers(bufs))
}

//export ioloopgo_stats
func ioloopgo_stats(loop *C.ioloop_loop, out *C.ioloop_stats, name *C.char, submitted, completed *C.uint64_t) (rc C.int) {
	cl := loopOf(loop)
	if cl == nil {
		return C.int(codeMisuse)
	}
	defer func() {
		if r := recover(); r != nil {
			rc = C.int(recovered(loop, r))
		}
	}()
	st := cl.l.Stats()
	if name != nil {
		op, ok := ioloop.OpByName(cString(unsafe.Pointer(name)))
		if !ok {
			return -C.int(syscall.ENOENT)
		}
		*submitted = C.uint64_t(st.Ops[op].Submitted)
		*completed = C.uint64_t(st.Ops[op].Completed)
		return 0
	}
	total := st.Total()
	out.submitted = C.uint64_t(total.Submitted)
	out.completed = C.uint64_t(total.Completed)
	out.kernel_enters = C.uint64_t(st.KernelEnters)
	out.overflow_depth = C.uint64_t(st.OverflowDepth)
	out.overflow_high_water = C.uint64_t(st.OverflowHighWater)
	out.in_flight = C.uint64_t(st.InFlight)
	out.timers_pending = C.uint64_t(st.TimersPending)
	out.inbox_depth = C.uint64_t(st.InboxDepth)
	out.pool_buffers_free = C.uint64_t(st.PoolBuffersFree)
	return 0
}
