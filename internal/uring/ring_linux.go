//go:build linux

package uring

import (
	"errors"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxEntries is the kernel's limit on SQ entries (IORING_MAX_ENTRIES).
const MaxEntries = 32768

// Ring is one io_uring instance: the mmapped submission and completion
// queues plus the local bookkeeping of SQEs prepared but not yet published.
//
// A Ring is not safe for concurrent use; the event loop owns it.
type Ring struct {
	fd     int
	params Params

	sqRingMem []byte // mmap of the SQ ring (and the CQ ring with FEAT_SINGLE_MMAP)
	cqRingMem []byte // mmap of the CQ ring; aliases sqRingMem with FEAT_SINGLE_MMAP
	cqShared  bool   // cqRingMem aliases sqRingMem
	sqeMem    []byte // mmap of the SQE array

	sqHead    *uint32 // written by the kernel as it consumes SQEs
	sqTail    *uint32 // written by us to publish SQEs
	sqFlags   *uint32 // written by the kernel (CQ_OVERFLOW, TASKRUN)
	sqDropped *uint32
	sqMask    uint32
	sqEntries uint32
	sqes      []SQE

	// sqeTail counts SQEs handed out by GetSQE; sqTail (shared) lags it until
	// Publish. Both wrap at 2^32 like the kernel's counters.
	sqeTail uint32

	cqHead     *uint32 // written by us as we consume CQEs
	cqTail     *uint32 // written by the kernel
	cqOverflow *uint32
	cqMask     uint32
	cqEntries  uint32
	cqes       []CQE

	// waitArg and waitTs live in the Ring (on the heap, reachable for the
	// Ring's lifetime) because io_uring_enter reads them by address.
	waitArg getEventsArg
	waitTs  kernelTimespec

	// enters counts io_uring_enter calls (Enters).
	enters uint64
}

// Setup creates a ring with at least entries SQ entries (rounded up to a
// power of two by the kernel) and cqEntries CQ entries (0 = kernel default,
// twice the SQ). flags are IORING_SETUP_* bits; the kernel rejects unknown
// ones with EINVAL, which the caller may retry without them.
func Setup(entries, cqEntries, flags uint32) (*Ring, error) {
	r := &Ring{fd: -1}
	r.params.Flags = flags | SetupClamp
	if cqEntries != 0 {
		r.params.Flags |= SetupCQSize
		r.params.CQEntries = cqEntries
	}
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&r.params)), 0)
	if errno != 0 {
		return nil, errno
	}
	r.fd = int(fd)
	if err := r.mapRings(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Ring) mapRings() error {
	p := &r.params
	// Without the SQ array (NO_SQARRAY) sqOff.array is 0 and the SQ ring
	// is smaller than the CQ ring, which then sets the shared size.
	sqRingSize := uintptr(p.sqOff.array) + uintptr(p.SQEntries)*4
	cqRingSize := uintptr(p.cqOff.cqes) + uintptr(p.CQEntries)*uintptr(unsafe.Sizeof(CQE{}))
	singleMmap := p.Features&FeatSingleMmap != 0
	if singleMmap && cqRingSize > sqRingSize {
		sqRingSize = cqRingSize
	}
	var err error
	r.sqRingMem, err = unix.Mmap(r.fd, int64(offSQRing), int(sqRingSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return err
	}
	if singleMmap {
		r.cqRingMem = r.sqRingMem
		r.cqShared = true
	} else {
		r.cqRingMem, err = unix.Mmap(r.fd, int64(offCQRing), int(cqRingSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return err
		}
	}
	sqeSize := int(p.SQEntries) * int(unsafe.Sizeof(SQE{}))
	r.sqeMem, err = unix.Mmap(r.fd, int64(offSQEs), sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return err
	}

	sq := r.sqRingMem
	r.sqHead = (*uint32)(unsafe.Pointer(&sq[p.sqOff.head]))
	r.sqTail = (*uint32)(unsafe.Pointer(&sq[p.sqOff.tail]))
	r.sqFlags = (*uint32)(unsafe.Pointer(&sq[p.sqOff.flags]))
	r.sqDropped = (*uint32)(unsafe.Pointer(&sq[p.sqOff.dropped]))
	r.sqMask = *(*uint32)(unsafe.Pointer(&sq[p.sqOff.ringMask]))
	r.sqEntries = *(*uint32)(unsafe.Pointer(&sq[p.sqOff.ringEntries]))
	r.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&r.sqeMem[0])), p.SQEntries)
	// The SQ index array is an indirection we do not need: with
	// IORING_SETUP_NO_SQARRAY (6.6+) the kernel drops it; otherwise fill it
	// with the identity once, so that SQE slot i is always array entry i.
	if p.Flags&SetupNoSQArray == 0 {
		array := unsafe.Slice((*uint32)(unsafe.Pointer(&sq[p.sqOff.array])), p.SQEntries)
		for i := range array {
			array[i] = uint32(i)
		}
	}
	r.sqeTail = atomic.LoadUint32(r.sqTail)

	cq := r.cqRingMem
	r.cqHead = (*uint32)(unsafe.Pointer(&cq[p.cqOff.head]))
	r.cqTail = (*uint32)(unsafe.Pointer(&cq[p.cqOff.tail]))
	r.cqOverflow = (*uint32)(unsafe.Pointer(&cq[p.cqOff.overflow]))
	r.cqMask = *(*uint32)(unsafe.Pointer(&cq[p.cqOff.ringMask]))
	r.cqEntries = *(*uint32)(unsafe.Pointer(&cq[p.cqOff.ringEntries]))
	r.cqes = unsafe.Slice((*CQE)(unsafe.Pointer(&cq[p.cqOff.cqes])), p.CQEntries)
	return nil
}

// Close unmaps the rings and closes the ring fd. The caller must make sure
// no request is still in flight: the kernel tears down in-flight requests
// asynchronously after the fd closes, and their memory belongs to Go.
func (r *Ring) Close() error {
	if r.sqeMem != nil {
		_ = unix.Munmap(r.sqeMem)
	}
	if r.cqRingMem != nil && !r.cqShared {
		_ = unix.Munmap(r.cqRingMem)
	}
	if r.sqRingMem != nil {
		_ = unix.Munmap(r.sqRingMem)
	}
	r.sqeMem, r.cqRingMem, r.sqRingMem = nil, nil, nil
	r.sqes, r.cqes = nil, nil
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

// Fd returns the ring's file descriptor.
func (r *Ring) Fd() int { return r.fd }

// Params returns the parameters the kernel filled in at setup.
func (r *Ring) Params() Params { return r.params }

// SQEntries and CQEntries return the ring sizes the kernel chose.
func (r *Ring) SQEntries() uint32 { return r.sqEntries }

// CQEntries returns the number of CQ entries.
func (r *Ring) CQEntries() uint32 { return r.cqEntries }

// GetSQE returns the next free SQE, zeroed, or nil when the SQ is full. The
// SQE becomes visible to the kernel only at the next Publish.
func (r *Ring) GetSQE() *SQE {
	head := atomic.LoadUint32(r.sqHead)
	if r.sqeTail-head >= r.sqEntries {
		return nil
	}
	sqe := &r.sqes[r.sqeTail&r.sqMask]
	r.sqeTail++
	*sqe = SQE{}
	return sqe
}

// LastSQE returns the SQE GetSQE handed out last (a zeroed one before
// the first); tests read it to see what the loop asked of the kernel.
func (r *Ring) LastSQE() *SQE { return &r.sqes[(r.sqeTail-1)&r.sqMask] }

// SQSpace returns how many SQEs GetSQE can still hand out.
func (r *Ring) SQSpace() uint32 {
	return r.sqEntries - (r.sqeTail - atomic.LoadUint32(r.sqHead))
}

// Publish makes every SQE handed out by GetSQE visible to the kernel and
// returns how many SQEs the kernel has not consumed yet (the to_submit
// argument of the next Enter).
func (r *Ring) Publish() uint32 {
	// The atomic store orders the SQE writes before the tail update, as
	// the kernel's smp_load_acquire of the tail requires.
	atomic.StoreUint32(r.sqTail, r.sqeTail)
	return r.sqeTail - atomic.LoadUint32(r.sqHead)
}

// CQOverflowPending reports whether the kernel holds completions that did
// not fit in the CQ (IORING_SQ_CQ_OVERFLOW); an Enter with GETEVENTS moves
// them into the CQ.
func (r *Ring) CQOverflowPending() bool {
	return atomic.LoadUint32(r.sqFlags)&sqCQOverflow != 0
}

// TaskrunPending reports IORING_SQ_TASKRUN: with COOP_TASKRUN the kernel
// has completions that only an Enter with GETEVENTS will post.
func (r *Ring) TaskrunPending() bool {
	return atomic.LoadUint32(r.sqFlags)&sqTaskrun != 0
}

// CQReady returns how many CQEs are waiting in the CQ.
func (r *Ring) CQReady() uint32 {
	return atomic.LoadUint32(r.cqTail) - *r.cqHead
}

// CQHeadTail returns the CQ's consumer head and the kernel's tail: the
// CQEs in [head, tail) are ready. Read them with CQE and hand them back with
// SetCQHead, once per batch rather than once per CQE.
func (r *Ring) CQHeadTail() (head, tail uint32) {
	return *r.cqHead, atomic.LoadUint32(r.cqTail)
}

// CQE returns the CQE at position index (a free-running counter).
func (r *Ring) CQE(index uint32) *CQE { return &r.cqes[index&r.cqMask] }

// SetCQHead hands every CQE before head back to the kernel.
func (r *Ring) SetCQHead(head uint32) { atomic.StoreUint32(r.cqHead, head) }

// Enter calls io_uring_enter to submit toSubmit SQEs and, with getEvents,
// to reap completions: run pending task work, flush the kernel's CQ
// overflow list, and wait until minComplete CQEs are ready. A wait is
// bounded by timeoutNs through IORING_ENTER_EXT_ARG (no timeout SQE);
// timeoutNs < 0 waits without limit. It returns how many SQEs the kernel
// consumed. EINTR, EAGAIN, EBUSY and ETIME come back as errors for the
// caller to interpret.
func (r *Ring) Enter(toSubmit uint32, getEvents bool, minComplete uint32, timeoutNs int64) (uint32, error) {
	flags := uintptr(0)
	var arg unsafe.Pointer
	argSize := uintptr(0)
	if getEvents {
		flags |= uintptr(EnterGetEvents)
	}
	if minComplete > 0 && timeoutNs >= 0 {
		r.waitTs = kernelTimespec{sec: timeoutNs / 1e9, nsec: timeoutNs % 1e9}
		r.waitArg = getEventsArg{ts: uint64(uintptr(unsafe.Pointer(&r.waitTs)))}
		flags |= uintptr(EnterExtArg)
		arg = unsafe.Pointer(&r.waitArg)
		argSize = unsafe.Sizeof(r.waitArg)
	}
	r.enters++
	n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete), flags, uintptr(arg), argSize)
	if errno != 0 {
		return 0, errno
	}
	return uint32(n), nil
}

// Enters returns how many times Enter called io_uring_enter.
func (r *Ring) Enters() uint64 { return r.enters }

// Probe returns the set of opcodes the kernel supports for this ring
// (IORING_REGISTER_PROBE), indexed by opcode.
func (r *Ring) Probe() ([]bool, error) {
	var p probe
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerProbe, uintptr(unsafe.Pointer(&p)), uintptr(len(p.ops)), 0, 0)
	if errno != 0 {
		return nil, errno
	}
	supported := make([]bool, int(p.lastOp)+1)
	for i := 0; i < int(p.opsLen) && i < len(p.ops); i++ {
		op := p.ops[i]
		if op.flags&probeOpSupported != 0 && int(op.op) < len(supported) {
			supported[op.op] = true
		}
	}
	return supported, nil
}

// ErrNoExtArg reports a kernel without IORING_FEAT_EXT_ARG (before 5.11),
// which cannot wait with a timeout without a timeout SQE.
var ErrNoExtArg = errors.New("kernel lacks IORING_FEAT_EXT_ARG (needs Linux 5.11 or newer)")
