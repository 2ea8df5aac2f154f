package ioloop

import (
	"fmt"
	"slices"
	"syscall"
	"unsafe"
)

// Registered files and buffers (opt-in). io_uring can name a file by its
// index in a table registered with the ring, which spares the kernel the
// descriptor lookup and reference counting of every request, and can read
// into and write from buffers pinned once at registration instead of at
// every request (IORING_OP_READ_FIXED, WRITE_FIXED). Both are opt-in:
// RegisterFile and RegisterBuffers.
//
// On the readiness backends (epoll, kqueue) and the simulator the same
// calls validate their arguments exactly as on io_uring (the same errors
// for a bad descriptor, a second registration, a full table, a buffer
// outside registered memory), and then do nothing: operations on a
// registered descriptor are plain operations, and ReadFixed and WriteFixed
// are Read and Write. Code written for io_uring runs unchanged.
//
// docs/BENCHMARKS.md ("Registered files and buffers") has what they buy.

// MaxRegisteredFiles is how many descriptors one Loop can have registered
// at once (RegisterFile). On io_uring the kernel's table of that many
// slots is created at the first RegisterFile.
const MaxRegisteredFiles = 4096

// maxRegisteredFD bounds the descriptor numbers RegisterFile takes, and so
// the loop's fd-to-slot table (4 bytes per number up to the largest one
// registered). Linux's default nr_open is 1<<20.
const maxRegisteredFD = 1 << 20

// Limits of io_uring's registered buffers (IORING_MAX_REG_BUFFERS, and
// the kernel's 1 GiB per buffer), enforced on every backend.
const (
	maxRegisteredBuffers     = 1 << 14
	maxRegisteredBufferBytes = 1 << 30
)

// ErrNotRegistered is the result of a ReadFixed or WriteFixed whose buffer
// does not lie inside one buffer registered with RegisterBuffers. It
// matches syscall.EFAULT with errors.Is (io_uring's answer to an address
// outside the registered buffer).
var ErrNotRegistered error = &sentinelError{"ioloop: ReadFixed or WriteFixed buffer is not inside a registered buffer (Loop.RegisterBuffers)", syscall.EFAULT}

// fixedResources is a Loop's registered files and buffers, kept the same
// on every backend so that every backend validates alike; the io_uring
// backend mirrors them in the kernel (fixedRegistrar).
type fixedResources struct {
	// slotOf is indexed by descriptor: its registered slot plus one, or 0.
	slotOf []int32
	// freeSlots are the slots below nextSlot not in use; nextSlot is the
	// first never used.
	freeSlots []int32
	nextSlot  int32
	files     int // descriptors registered

	// buffers are the registered buffers, kept referenced here so that
	// the memory the kernel has pinned is never collected while
	// registered (Go's heap does not move); ranges are their address
	// ranges sorted by start, for the lookup of ReadFixed and WriteFixed.
	buffers [][]byte
	ranges  []bufferRange

	// nativeBuffers and nativeSendZC: the backend runs ReadFixed and
	// WriteFixed, and SendZC, as operations of their own (io_uring; the
	// latter with IORING_OP_SEND_ZC); elsewhere they are submitted as
	// Read, Write and Send.
	nativeBuffers bool
	nativeSendZC  bool
}

// bufferRange is one registered buffer's address range and index.
type bufferRange struct {
	start, end uintptr
	index      int32
}

// fixedRegistrar is implemented by the backends that register resources
// with the kernel (io_uring). The loop has validated every argument and
// keeps the bookkeeping; a registrar only mirrors it in the kernel.
type fixedRegistrar interface {
	registerFile(fd int, slot int32) error
	unregisterFile(slot int32) error
	registerBuffers(bufs [][]byte) error
	unregisterBuffers() error
}

// fixedSlot returns fd's registered slot, or -1.
func (f *fixedResources) fixedSlot(fd int32) int32 {
	if uint32(fd) < uint32(len(f.slotOf)) {
		return f.slotOf[fd] - 1
	}
	return -1
}

// RegisterFile registers the open descriptor fd (a socket or a file) with
// the loop, so that every later operation on fd names it by its slot in
// the kernel's table of registered files instead of by number (io_uring:
// IOSQE_FIXED_FILE), transparently: the operations take fd as before.
//
// Errors (matching with errors.Is): EBADF for a descriptor that is not
// open, or above 1<<20; EEXIST if fd is registered already; ENOSPC when
// MaxRegisteredFiles descriptors are registered.
//
// A registered descriptor must be closed with the Close operation, which
// unregisters it first (whatever Close's outcome), or unregistered with
// UnregisterFile before it is closed any other way: on io_uring the
// kernel's table holds a reference to the file, which would otherwise stay
// open (a socket's peer would never see end of stream). Loop.Close drops
// the whole table.
//
// On the readiness backends and the simulator it validates fd and records
// it, so that the errors are the same, and changes nothing else.
func (l *Loop) RegisterFile(fd int) error {
	l.mustBeOpen("RegisterFile")
	f := &l.fixed
	switch {
	case fd < 0 || fd >= maxRegisteredFD:
		return fmt.Errorf("ioloop: RegisterFile(%d): not a descriptor the loop can register: %w", fd, syscall.EBADF)
	case f.fixedSlot(int32(fd)) >= 0:
		return fmt.Errorf("ioloop: RegisterFile(%d): already registered: %w", fd, syscall.EEXIST)
	case f.files == MaxRegisteredFiles:
		return fmt.Errorf("ioloop: RegisterFile(%d): all %d slots of the registered-file table are in use: %w", fd, MaxRegisteredFiles, syscall.ENOSPC)
	}
	if errno := l.descriptorOpen(fd); errno != 0 {
		return fmt.Errorf("ioloop: RegisterFile(%d): %w", fd, errno)
	}
	slot := f.nextSlot
	if n := len(f.freeSlots); n > 0 {
		slot = f.freeSlots[n-1]
		f.freeSlots = f.freeSlots[:n-1]
	} else {
		f.nextSlot++
	}
	if r, ok := l.backend.(fixedRegistrar); ok {
		if err := r.registerFile(fd, slot); err != nil {
			f.freeSlots = append(f.freeSlots, slot)
			return fmt.Errorf("ioloop: RegisterFile(%d): %w", fd, err)
		}
	}
	if fd >= len(f.slotOf) {
		grown := make([]int32, min(max(fd+1, 2*len(f.slotOf), 64), maxRegisteredFD))
		copy(grown, f.slotOf)
		f.slotOf = grown
	}
	f.slotOf[fd] = slot + 1
	f.files++
	return nil
}

// UnregisterFile undoes RegisterFile: later operations on fd name it by
// number again. Operations already in flight are unaffected. It fails with
// ENOENT if fd is not registered.
func (l *Loop) UnregisterFile(fd int) error {
	l.mustBeOpen("UnregisterFile")
	if fd < 0 || l.fixed.fixedSlot(int32(fd)) < 0 {
		return fmt.Errorf("ioloop: UnregisterFile(%d): not registered: %w", fd, syscall.ENOENT)
	}
	if err := l.dropRegisteredFile(int32(fd)); err != nil {
		return fmt.Errorf("ioloop: UnregisterFile(%d): %w", fd, err)
	}
	return nil
}

// dropRegisteredFile empties fd's slot, in the kernel too. The loop's
// record goes whatever the kernel says: the descriptor is about to be
// closed (Close) or the caller asked (UnregisterFile), and a slot the
// kernel would not empty is not reused.
func (l *Loop) dropRegisteredFile(fd int32) error {
	f := &l.fixed
	slot := f.fixedSlot(fd)
	f.slotOf[fd] = 0
	f.files--
	if r, ok := l.backend.(fixedRegistrar); ok {
		if err := r.unregisterFile(slot); err != nil {
			return err
		}
	}
	f.freeSlots = append(f.freeSlots, slot)
	return nil
}

// unregisterOnClose is Close's first step on a registered descriptor.
func (l *Loop) unregisterOnClose(fd int) {
	if fd >= 0 && !l.closed && l.fixed.fixedSlot(int32(fd)) >= 0 {
		_ = l.dropRegisteredFile(int32(fd)) // emptying a slot fails only on a broken ring
	}
}

// descriptorOpen checks that fd is open: in the kernel, or on the
// simulator in the loop's simulated node.
func (l *Loop) descriptorOpen(fd int) syscall.Errno {
	if sim, ok := l.backend.(*simBackend); ok {
		if _, errno := sim.node.Seek(fd, 0, 1); errno == syscall.EBADF { // ESPIPE: a socket, open
			return errno
		}
		return 0
	}
	_, err := sysFcntlGetfd(fd)
	return errnoOf(err)
}

// mustBeOpen panics when a registration method is called on a closed Loop.
func (l *Loop) mustBeOpen(method string) {
	if l == nil {
		panic("ioloop: " + method + " with a nil *Loop")
	}
	if l.closed {
		panic("ioloop: " + method + " called on a closed Loop")
	}
}

// RegisterBuffers registers bufs as the loop's buffers for ReadFixed and
// WriteFixed, replacing any set registered before. On io_uring the kernel
// pins their memory once (IORING_REGISTER_BUFFERS), which counts against
// RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK (ENOMEM when it is
// exceeded), and the loop keeps bufs referenced until they are replaced,
// UnregisterBuffers is called, or the loop is closed.
//
// Errors (matching with errors.Is): EINVAL for no buffers, more than
// 16384, or one that is empty or larger than 1 GiB; the kernel's errno
// (ENOMEM, EFAULT, ...) otherwise. After an error no buffers are
// registered.
//
// Replacing or unregistering buffers while ReadFixed or WriteFixed
// operations are in flight is safe: those keep the memory pinned until
// they complete. For O_DIRECT files the buffers must be aligned as Read's
// would (AlignedBuffer).
func (l *Loop) RegisterBuffers(bufs [][]byte) error {
	l.mustBeOpen("RegisterBuffers")
	if err := l.UnregisterBuffers(); err != nil {
		return err
	}
	switch {
	case len(bufs) == 0 || len(bufs) > maxRegisteredBuffers:
		return fmt.Errorf("ioloop: RegisterBuffers: %d buffers, want 1 to %d: %w", len(bufs), maxRegisteredBuffers, syscall.EINVAL)
	}
	for i, b := range bufs {
		if len(b) == 0 || len(b) > maxRegisteredBufferBytes {
			return fmt.Errorf("ioloop: RegisterBuffers: buffer %d holds %d bytes, want 1 to 1 GiB: %w", i, len(b), syscall.EINVAL)
		}
	}
	kept := slices.Clone(bufs)
	if r, ok := l.backend.(fixedRegistrar); ok {
		if err := r.registerBuffers(kept); err != nil {
			return fmt.Errorf("ioloop: RegisterBuffers: %w", err)
		}
	}
	ranges := make([]bufferRange, len(kept))
	for i, b := range kept {
		start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		ranges[i] = bufferRange{start: start, end: start + uintptr(len(b)), index: int32(i)}
	}
	slices.SortFunc(ranges, func(a, b bufferRange) int {
		switch {
		case a.start < b.start:
			return -1
		case a.start > b.start:
			return 1
		}
		return 0
	})
	l.fixed.buffers, l.fixed.ranges = kept, ranges
	return nil
}

// UnregisterBuffers forgets the registered buffers, if any; ReadFixed and
// WriteFixed then fail with ErrNotRegistered until RegisterBuffers is
// called again.
func (l *Loop) UnregisterBuffers() error {
	l.mustBeOpen("UnregisterBuffers")
	if l.fixed.buffers == nil {
		return nil
	}
	l.fixed.buffers, l.fixed.ranges = nil, nil
	if r, ok := l.backend.(fixedRegistrar); ok {
		if err := r.unregisterBuffers(); err != nil {
			return fmt.Errorf("ioloop: UnregisterBuffers: %w", err)
		}
	}
	return nil
}

// bufferIndex returns the index of the registered buffer buf lies inside,
// or -1. A search of the sorted ranges: no allocation.
func (f *fixedResources) bufferIndex(buf []byte) int32 {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	end := start + uintptr(len(buf))
	// The last range starting at or before start is the only candidate
	// (overlapping registrations aside, which may then miss: harmless).
	lo, hi := 0, len(f.ranges)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if f.ranges[mid].start <= start {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 || start == 0 {
		return -1
	}
	if r := &f.ranges[lo-1]; end <= r.end {
		return r.index
	}
	return -1
}

// ReadFixed is Read into a registered buffer: buf must lie inside one of
// the buffers given to RegisterBuffers (any part of one), or the callback
// gets ErrNotRegistered. On io_uring it is IORING_OP_READ_FIXED, which
// spares the kernel pinning the memory for each request; elsewhere it is
// Read. Results and offsets follow Read's rules.
func ReadFixed[T any](l *Loop, c *Completion, fd int, buf []byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	submitFixed(l, c, opReadFixed, opRead, fd, buf, offset, ctx, callback)
}

// WriteFixed is Write from a registered buffer, as ReadFixed is Read
// (IORING_OP_WRITE_FIXED on io_uring; elsewhere Write).
func WriteFixed[T any](l *Loop, c *Completion, fd int, buf []byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	submitFixed(l, c, opWriteFixed, opWrite, fd, buf, offset, ctx, callback)
}

// submitFixed submits ReadFixed or WriteFixed as op where the backend runs
// it, else as plain, after finding buf's registered buffer (c.index).
func submitFixed[T any](l *Loop, c *Completion, op, plain opcode, fd int, buf []byte, offset int64, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	l.prepare(c, op, callback == nil)
	c.op = plain
	if l.fixed.nativeBuffers {
		c.op = op
	}
	c.fd = int32(fd)
	c.io.buf = buf
	c.io.offset = offset
	c.flags = 0
	c.index = l.fixed.bufferIndex(buf)
	code := errorCode(offsetErrno(offset))
	if code == codeNone && c.index < 0 {
		code = codeNotRegistered
	}
	l.submitFileCode(code, c, unsafe.Pointer(ctx), countCallback[T](callback))
}
