//go:build linux

// Command capi is libioloop, the C API of package ioloop, built with
//
//	go build -buildmode=c-shared -o libioloop.so ./capi
//	go build -buildmode=c-archive -o libioloop.a ./capi
//
// Its interface is the hand-written header ioloop.h; this package is the
// only one of the module that uses cgo. How it works:
//
//   - A C ioloop_completion is 128 bytes of caller-owned storage whose
//     layout is ioloop_impl.h's ioloop_cimpl. The operation functions
//     (ioloop.c) are plain C: they record the arguments there and append
//     the completion to the loop's C submission list. No Go code runs.
//   - When the loop runs (ioloop_run_for, ioloop_run, ioloop_tick), Go
//     takes the submission list (drainSubmissions) and submits each
//     completion to the ioloop.Loop through a slot: a Go ioloop.Completion
//     that belongs to that C completion, found by the slot index the C
//     completion carries (slotFor), allocated on its first use and reused
//     ever after.
//   - Each slot's Go callback records the result in the C completion and
//     appends it to the loop's ready list; the first result of a pass
//     asks the Go loop to return after that pass (Loop.Stop), and the
//     whole list then goes to C in one call (ioloop__deliver), which runs
//     the C callbacks in order. Their submissions are drained when it
//     returns, and the loop runs on.
//
// So the Go→C transitions are one per pass, the C→Go ones one per run
// call, and no C memory ever holds a Go pointer.
package main

/*
#cgo CFLAGS: -O2 -Wall -Wno-unused-function
#include <stdlib.h>
#include "ioloop_impl.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/ioloop/ioloop"
)

// main is required by -buildmode=c-shared and c-archive; it never runs.
func main() {}

// Result codes of ioloop.h beyond negative errnos.
const (
	codeMisuse   = int32(C.IOLOOP_EMISUSE)
	codeClosed   = int32(C.IOLOOP_ECLOSED)
	codeInternal = int32(C.IOLOOP_EINTERNAL)
	codeBackend  = int32(C.IOLOOP_EBACKEND)
	codeChain    = int32(C.IOLOOP_ECHAIN)
)

// How ioloopgo_run runs the loop (ioloop.c's RUN_* values).
const (
	runFor        = 0
	runTick       = 1
	runUntilEmpty = 2
)

func init() {
	// ioloop_strerror reads this table without entering Go. The strings
	// are allocated once and live as long as the process.
	for i := 1; i < len(C.ioloop__errno_text); i++ {
		C.ioloop__errno_text[i] = C.CString(syscall.Errno(i).Error())
	}
}

// cloop is the Go half of a loop; the C half (ioloop_impl.h's struct
// ioloop_loop) carries its id.
type cloop struct {
	id uint32
	c  *C.ioloop_loop
	l  *ioloop.Loop

	// slots are the Go Completions of the C completions used with this
	// loop; a C completion's slot field is its index plus one. freeSlots
	// holds indexes that ioloop_completion_release returned.
	slots     []*slot
	freeSlots []uint32

	// The ready list: C completions whose result is known and whose
	// callbacks have not run, in completion order, linked through their
	// next field (C memory).
	readyHead, readyTail *C.ioloop_cimpl

	// draining is the rest of the C submission list being submitted, and
	// submitting the completion being submitted (drainSome).
	draining, submitting *C.ioloop_cimpl

	// running: a Loop.RunFor or Loop.Run is on the stack, so the first
	// result of a pass stops it (stopAsked) for the list to be delivered.
	running   bool
	stopAsked bool
	// closing: Loop.Close is running; results go to C one at a time, at
	// once, because Close runs callbacks until nothing is left and only
	// returns at the end.
	closing bool

	// userStops counts ioloop_stop calls not yet acted on (any thread).
	userStops atomic.Int32

	// events are the loop's Events, indexed by ioloop_event.index; copied
	// on write (eventsMu) so that other threads' triggers read them
	// without a lock. eventMemory is the C memory of the handles, freed at
	// close.
	events      atomic.Pointer[[]*ioloop.Event]
	eventsMu    sync.Mutex
	eventMemory []*C.ioloop_event

	// chainOpen: drainSome called Loop.BeginChain for a chain whose last
	// operation it has not submitted yet; chainMembers are the chain's C
	// completions that reached the Go loop, which a failed EndChain hands
	// back (reused slice).
	chainOpen    bool
	chainMembers []*C.ioloop_cimpl

	// pools are the loop's buffer pools, indexed by ioloop_pool.index.
	pools []*cpool

	// postFn is onPosted as a func value, made once so that posting does
	// not allocate.
	postFn func(*C.ioloop_cimpl)
}

// slot is the Go side of one C completion on one loop.
type slot struct {
	comp ioloop.Completion
	// cc is the C completion of the operation in flight (or the last one).
	cc *C.ioloop_cimpl
	cl *cloop
	// bufs is the [][]byte of a vectored operation, reused.
	bufs [][]byte
	// x is the state of pooled receives (pool.go), nil until the first.
	x *slotExtra
	// pad makes a slot 192 bytes, a size class of its own whose objects
	// start on 64-byte boundaries, so that the Completion's hot first 64
	// bytes share one cache line (at 168 bytes, in the 176-byte class,
	// they straddle two in most slots).
	_ [16]byte
}

// The registry maps loop ids to loops, for the calls that arrive from C
// with a loop or event handle. It is copied on write (registryMu), so that
// lookups from any thread take one atomic load; ids are never reused, so a
// stale id finds nothing.
var (
	registryMu sync.Mutex
	registry   atomic.Pointer[map[uint32]*cloop]
	nextLoopID uint32
)

func lookup(id uint32) *cloop {
	m := registry.Load()
	if m == nil {
		return nil
	}
	return (*m)[id]
}

func register(cl *cloop) {
	registryMu.Lock()
	defer registryMu.Unlock()
	nextLoopID++
	cl.id = nextLoopID
	m := map[uint32]*cloop{}
	if old := registry.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[cl.id] = cl
	registry.Store(&m)
}

func unregister(cl *cloop) {
	registryMu.Lock()
	defer registryMu.Unlock()
	m := map[uint32]*cloop{}
	for k, v := range *registry.Load() {
		if k != cl.id {
			m[k] = v
		}
	}
	registry.Store(&m)
}

// loopOf returns the Go half of a C loop, or nil once it has closed.
func loopOf(c *C.ioloop_loop) *cloop {
	if c == nil {
		return nil
	}
	return lookup(uint32(c.id))
}

// setError records msg for ioloop_last_error (loop may be nil).
func setError(loop *C.ioloop_loop, msg string) {
	if len(msg) == 0 {
		C.ioloop__set_error(loop, nil, 0)
		return
	}
	C.ioloop__set_error(loop, (*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
}

// recovered turns a panic caught at the boundary into a result code: a
// panic of package ioloop that names a programming error is misuse, any
// other is a bug of this library.
func recovered(loop *C.ioloop_loop, r any) int32 {
	msg := fmt.Sprint(r)
	setError(loop, msg)
	if s, ok := r.(string); ok && len(s) > 8 && s[:8] == "ioloop: " && !isInternal(s) {
		return codeMisuse
	}
	return codeInternal
}

func isInternal(msg string) bool {
	const prefix = "ioloop: internal error"
	return len(msg) >= len(prefix) && msg[:len(prefix)] == prefix
}

// resultOf converts a Go callback's (n, err) to the C result.
func resultOf(n int, err error) int32 {
	if err == nil {
		if n > math.MaxInt32 {
			return math.MaxInt32
		}
		return int32(n)
	}
	if errno, ok := err.(syscall.Errno); ok {
		return -int32(errno)
	}
	switch err {
	case io.EOF:
		return 0
	case ioloop.ErrCanceled:
		return -int32(syscall.ECANCELED)
	case ioloop.ErrNotFound:
		return -int32(syscall.ENOENT)
	case ioloop.ErrClosed:
		return codeClosed
	case ioloop.ErrChainBroken:
		return codeChain
	case ioloop.ErrTimedOut:
		return -int32(syscall.ETIMEDOUT)
	case ioloop.ErrNotRegistered:
		return -int32(syscall.EFAULT)
	case io.ErrShortWrite:
		return -int32(syscall.EIO)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return -int32(errno)
	}
	return codeInternal
}

//export ioloopgo_loop_new
func ioloopgo_loop_new(opts *C.ioloop_options, out **C.ioloop_loop) (rc C.int) {
	defer func() {
		if r := recover(); r != nil {
			rc = C.int(recovered(nil, r))
		}
	}()
	var o ioloop.Options
	if opts != nil {
		for _, r := range opts._reserved {
			if r != 0 {
				setError(nil, "ioloop: ioloop_options._reserved must be zero")
				return -C.int(syscall.EINVAL)
			}
		}
		if opts.backend > C.IOLOOP_BACKEND_KQUEUE {
			setError(nil, "ioloop: ioloop_options.backend is not an IOLOOP_BACKEND_* value")
			return -C.int(syscall.EINVAL)
		}
		o = ioloop.Options{
			Backend:      ioloop.Backend(opts.backend),
			Entries:      uint32(opts.entries),
			FileWorkers:  int(opts.file_workers),
			InboxEntries: uint32(opts.inbox_entries),
			TimerSlack:   time.Duration(opts.timer_slack_ns),
			LockedThread: opts.flags&C.IOLOOP_OPT_LOCKED_THREAD != 0,

			CompletionEntries: uint32(opts.completion_entries),
		}
		if opts.flags&^C.IOLOOP_OPT_LOCKED_THREAD != 0 {
			setError(nil, "ioloop: unknown flag in ioloop_options.flags")
			return -C.int(syscall.EINVAL)
		}
	}
	l, err := ioloop.New(o)
	if err != nil {
		setError(nil, err.Error())
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return -C.int(errno)
		}
		return -C.int(syscall.ENOSYS)
	}
	cl := &cloop{l: l}
	cl.postFn = cl.onPosted
	register(cl)
	cl.c = (*C.ioloop_loop)(C.calloc(1, C.sizeof_struct_ioloop_loop))
	cl.c.id = C.uint32_t(cl.id)
	cl.c.backend = C.int(l.Backend())
	*out = cl.c
	return 0
}

//export ioloopgo_loop_close
func ioloopgo_loop_close(loop *C.ioloop_loop) (rc C.int) {
	cl := loopOf(loop)
	if cl == nil {
		return C.int(codeMisuse)
	}
	defer func() {
		if r := recover(); r != nil {
			rc = C.int(recovered(loop, r))
		}
	}()
	cl.flush()
	cl.closing = true
	err := cl.l.Close()
	cl.drainSubmissions() // none expected: callbacks during Close are drained one by one
	unregister(cl)
	for _, ev := range cl.eventMemory {
		C.free(unsafe.Pointer(ev))
	}
	cl.eventMemory = nil
	cl.closePools()
	loop.closed = 1
	C.free(unsafe.Pointer(loop))
	if err != nil {
		setError(nil, err.Error())
		return C.int(codeBackend)
	}
	return 0
}

//export ioloopgo_fallback_reason
func ioloopgo_fallback_reason(loop *C.ioloop_loop, buf *C.char, n C.size_t) C.size_t {
	cl := loopOf(loop)
	if cl == nil || cl.l.FallbackReason() == nil {
		return 0
	}
	return copyString(cl.l.FallbackReason().Error(), buf, n)
}

// copyString copies s into the C buffer buf of n bytes, NUL-terminated and
// truncated, and returns len(s).
func copyString(s string, buf *C.char, n C.size_t) C.size_t {
	if buf != nil && n > 0 {
		dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
		k := copy(dst[:n-1], s)
		dst[k] = 0
	}
	return C.size_t(len(s))
}

//export ioloopgo_run
func ioloopgo_run(loop *C.ioloop_loop, mode C.int, timeoutNs C.int64_t) (rc C.int) {
	cl := loopOf(loop)
	if cl == nil {
		return C.int(codeMisuse)
	}
	defer func() {
		if r := recover(); r != nil {
			cl.running = false
			rc = C.int(recovered(loop, r))
		}
	}()
	var err error
	switch mode {
	case runFor:
		err = cl.runFor(int64(timeoutNs))
	case runTick:
		cl.flush()
		err = cl.l.Tick()
		cl.flush()
	case runUntilEmpty:
		err = cl.run()
	}
	if err != nil {
		setError(loop, err.Error())
		return C.int(codeBackend)
	}
	return 0
}

// runFor is ioloop_run_for: Loop.RunFor, which returns early after each
// pass that produced results, so that they are delivered to C in one call
// and the C callbacks' submissions reach the loop; then on until the time
// is up or ioloop_stop.
func (cl *cloop) runFor(timeoutNs int64) error {
	start := time.Now()
	for {
		cl.flush()
		remainingNs := timeoutNs - int64(time.Since(start))
		if timeoutNs < 0 || remainingNs < 0 {
			remainingNs = -1 // one pass, as RunFor does with a negative duration
		}
		if err := cl.pass(runFor, remainingNs); err != nil {
			return err
		}
		if cl.takeUserStop() || remainingNs < 0 {
			cl.flush()
			return nil
		}
	}
}

// run is ioloop_run: Loop.Run, returning early for deliveries as runFor
// does, until nothing is pending on either side.
func (cl *cloop) run() error {
	for {
		cl.flush()
		if err := cl.pass(runUntilEmpty, 0); err != nil {
			return err
		}
		stopped := cl.takeUserStop()
		cl.flush()
		if stopped || (cl.c.sq_head == nil && cl.readyHead == nil && cl.l.Pending() == 0) {
			return nil
		}
	}
}

// pass runs the Go loop (Loop.RunFor for timeoutNs with runFor, Loop.Run
// with runUntilEmpty) with the ready list's delivery armed: a result stops
// it after its pass.
func (cl *cloop) pass(mode int, timeoutNs int64) error {
	cl.running = true
	cl.stopAsked = cl.readyHead != nil
	if cl.stopAsked {
		cl.l.Stop()
	}
	var err error
	if mode == runFor {
		err = cl.l.RunFor(time.Duration(timeoutNs))
	} else {
		err = cl.l.Run()
	}
	cl.running = false
	return err
}

func (cl *cloop) takeUserStop() bool {
	for {
		n := cl.userStops.Load()
		if n == 0 {
			return false
		}
		if cl.userStops.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// flush delivers the ready list to C and hands C's new submissions to the
// Go loop.
func (cl *cloop) flush() {
	cl.drainSubmissions()
	if head := cl.readyHead; head != nil {
		cl.readyHead, cl.readyTail = nil, nil
		C.ioloop__deliver(cl.c, head)
		cl.drainSubmissions()
	}
}

// ready records a result for C. Outside Close it is appended to the ready
// list, and the first one of a pass stops the running Go loop after that
// pass; during Close the callback runs at once.
func (cl *cloop) ready(cc *C.ioloop_cimpl, result int32) {
	cc.result = C.int32_t(result)
	cc.state = C.IOLOOP_STATE_READY
	if cl.closing {
		C.ioloop__deliver_one(cl.c, cc)
		cl.drainSubmissions()
		return
	}
	cc.next = nil
	if cl.readyTail == nil {
		cl.readyHead = cc
		if cl.running && !cl.stopAsked {
			cl.stopAsked = true
			cl.l.Stop()
		}
	} else {
		cl.readyTail.next = cc
	}
	cl.readyTail = cc
}

//export ioloopgo_stop
func ioloopgo_stop(loop *C.ioloop_loop) {
	cl := loopOf(loop)
	if cl == nil {
		return
	}
	cl.userStops.Add(1)
	cl.l.Stop()
}

//export ioloopgo_post
func ioloopgo_post(loop *C.ioloop_loop, cc *C.ioloop_cimpl) (rc C.int) {
	cl := loopOf(loop)
	if cl == nil {
		return C.int(codeClosed)
	}
	defer func() {
		if r := recover(); r != nil {
			rc = C.int(codeInternal)
		}
	}()
	switch err := ioloop.Post(cl.l, cc, cl.postFn); err {
	case nil:
		return 0
	case ioloop.ErrQueueFull:
		return -C.int(syscall.EAGAIN)
	case ioloop.ErrClosed:
		return C.int(codeClosed)
	}
	return C.int(codeInternal)
}

//export ioloopgo_message
func ioloopgo_message(from, to *C.ioloop_loop, cc *C.ioloop_cimpl) (rc C.int) {
	src, dst := loopOf(from), loopOf(to)
	if src == nil {
		return C.int(codeMisuse)
	}
	if dst == nil {
		return C.int(codeClosed)
	}
	defer func() {
		if r := recover(); r != nil {
			rc = C.int(recovered(from, r))
		}
	}()
	switch err := ioloop.Message(src.l, dst.l, cc, dst.postFn); err {
	case nil:
		return 0
	case ioloop.ErrQueueFull:
		return -C.int(syscall.EAGAIN)
	case ioloop.ErrClosed:
		return C.int(codeClosed)
	}
	return C.int(codeInternal)
}

// onPosted runs a posted C completion's callback (on the loop's thread).
func (cl *cloop) onPosted(cc *C.ioloop_cimpl) { cl.ready(cc, 0) }

//export ioloopgo_event_new
func ioloopgo_event_new(loop *C.ioloop_loop) *C.ioloop_event {
	cl := loopOf(loop)
	if cl == nil {
		return nil
	}
	cl.eventsMu.Lock()
	defer cl.eventsMu.Unlock()
	var events []*ioloop.Event
	if old := cl.events.Load(); old != nil {
		events = append(events, *old...)
	}
	events = append(events, ioloop.NewEvent(cl.l))
	cl.events.Store(&events)
	ev := (*C.ioloop_event)(C.calloc(1, C.sizeof_struct_ioloop_event))
	ev.loop_id = C.uint32_t(cl.id)
	ev.index = C.uint32_t(len(events) - 1)
	ev.loop = loop
	cl.eventMemory = append(cl.eventMemory, ev)
	return ev
}

// eventOf returns the Go Event of a C handle, or nil once its loop closed.
func eventOf(ev *C.ioloop_event) *ioloop.Event {
	cl := lookup(uint32(ev.loop_id))
	if cl == nil {
		return nil
	}
	events := cl.events.Load()
	if events == nil || int(ev.index) >= len(*events) {
		return nil
	}
	return (*events)[ev.index]
}

//export ioloopgo_event_trigger
func ioloopgo_event_trigger(ev *C.ioloop_event) {
	if e := eventOf(ev); e != nil {
		e.Trigger()
	}
}

//export ioloopgo_release
func ioloopgo_release(loop *C.ioloop_loop, cc *C.ioloop_cimpl) {
	cl := loopOf(loop)
	if cl == nil {
		return
	}
	index := uint32(cc.slot) - 1
	if int(index) < len(cl.slots) && !cl.slots[index].comp.Pending() {
		cl.slots[index].cc = nil
		cl.slots[index].bufs = cl.slots[index].bufs[:0]
		cl.freeSlots = append(cl.freeSlots, index)
	}
}

// slotFor returns the slot of a C completion on this loop, allocating one
// on its first use here (the only allocation of the C API's steady state:
// none once every completion has been used once).
func (cl *cloop) slotFor(cc *C.ioloop_cimpl) *slot {
	if cc.slot != 0 && uint32(cc.slot_loop) == cl.id {
		if index := int(cc.slot) - 1; index < len(cl.slots) {
			return cl.slots[index]
		}
	}
	var index uint32
	if n := len(cl.freeSlots); n > 0 {
		index = cl.freeSlots[n-1]
		cl.freeSlots = cl.freeSlots[:n-1]
	} else {
		index = uint32(len(cl.slots))
		cl.slots = append(cl.slots, &slot{cl: cl})
	}
	cc.slot = C.uint32_t(index + 1)
	cc.slot_loop = C.uint32_t(cl.id)
	return cl.slots[index]
}
