//go:build linux

package uring

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Provided-buffer rings (IORING_REGISTER_PBUF_RING, 5.19). The
// application gives the kernel a ring of buffer descriptions; a request
// submitted with IOSQE_BUFFER_SELECT and a buffer group id names no buffer
// and the kernel takes the next one from the group's ring when data
// arrives, reporting which in the CQE (CQEFBuffer, the id in the flags'
// upper 16 bits). The application puts a buffer back by writing its
// description at the ring's tail and publishing the new tail.
//
// The ring's memory is the application's: an anonymous mapping, page
// aligned as the kernel requires, which the kernel pins while the ring is
// registered. Each entry is struct io_uring_buf:
//
//	offset 0  addr u64
//	offset 8  len  u32
//	offset 12 bid  u16
//	offset 14 resv u16   (entry 0's resv is the ring's tail)
//
// The tail overlaps the first entry's reserved field, so the kernel reads
// it with an acquire load of 16 bits; Go has no 16-bit atomic store, so
// the tail is published with a 32-bit atomic store at offset 12 that
// writes entry 0's bid unchanged (the ring remembers it) together with
// the tail. The atomic store orders every earlier write of entries before
// the tail, as the kernel's acquire load requires.

// SQEBufferSelect (IOSQE_BUFFER_SELECT) asks the kernel to pick the
// request's buffer from the group in sqe.buf_group (BufIndex).
const SQEBufferSelect uint8 = 1 << 5

// CQEFBuffer (IORING_CQE_F_BUFFER): the request took a provided buffer,
// whose id is the flags shifted right by CQEBufferShift.
const (
	CQEFBuffer     uint32 = 1 << 0
	CQEBufferShift        = 16
)

// Multishot flags, in sqe.ioprio.
const (
	// AcceptMultishot (IORING_ACCEPT_MULTISHOT, 5.19): one ACCEPT posts a
	// CQE per connection, with CQEFMore while it stays armed.
	AcceptMultishot uint16 = 1 << 0
	// RecvMultishot (IORING_RECV_MULTISHOT, 6.0): one RECV with buffer
	// select posts a CQE per arrival, with CQEFMore while it stays armed.
	RecvMultishot uint16 = 1 << 1
)

// MaxBufRingEntries is the kernel's largest provided-buffer ring.
const MaxBufRingEntries = 1 << 15

// io_uring_register opcodes of provided-buffer rings.
const (
	registerPbufRing   uintptr = 22
	unregisterPbufRing uintptr = 23
)

// bufReg is struct io_uring_buf_reg.
type bufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	flags       uint16
	resv        [3]uint64
}

// bufRingEntryBytes is the size of struct io_uring_buf.
const bufRingEntryBytes = 16

// bigEndian is the host's byte order, for the tail's combined store.
var bigEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 0
}()

// A BufRing is one registered provided-buffer ring. It belongs to the
// ring's submitting goroutine, like the SQ.
type BufRing struct {
	ring    *Ring
	mem     []byte
	mask    uint16
	group   uint16
	tail    uint16
	bid0    uint16 // the bid last written into entry 0 (see the tail's store)
	entries uint32
}

// RegisterBufRing registers an empty provided-buffer ring of entries
// descriptions (a power of two, 1..MaxBufRingEntries) as buffer group
// group. The kernel's error is returned as is: EINVAL from a kernel
// without provided-buffer rings, EEXIST for a group already registered.
func (r *Ring) RegisterBufRing(entries uint32, group uint16) (*BufRing, error) {
	if entries == 0 || entries > MaxBufRingEntries || entries&(entries-1) != 0 {
		return nil, unix.EINVAL
	}
	pageBytes := uint32(unix.Getpagesize())
	size := (entries*bufRingEntryBytes + pageBytes - 1) / pageBytes * pageBytes
	mem, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, err
	}
	reg := bufReg{ringAddr: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(mem)))), ringEntries: entries, bgid: group}
	if _, err := r.register(registerPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		_ = unix.Munmap(mem)
		return nil, err
	}
	return &BufRing{ring: r, mem: mem, mask: uint16(entries - 1), group: group, entries: entries}, nil
}

// Group returns the ring's buffer group id, for sqe.buf_group.
func (br *BufRing) Group() uint16 { return br.group }

// Add writes buffer id's description (its memory at addr, lengthBytes
// long) at the tail plus offset, unpublished until Advance. The kernel
// never reads more than it has been given, so the caller must keep the
// number of buffers in the ring at most its entries.
func (br *BufRing) Add(addr uintptr, lengthBytes uint32, id uint16, offset uint16) {
	slot := (br.tail + offset) & br.mask
	entry := unsafe.Pointer(&br.mem[uintptr(slot)*bufRingEntryBytes])
	*(*uint64)(entry) = uint64(addr)
	*(*uint32)(unsafe.Add(entry, 8)) = lengthBytes
	// Not the resv field: entry 0's is the tail.
	*(*uint16)(unsafe.Add(entry, 12)) = id
	if slot == 0 {
		br.bid0 = id
	}
}

// Advance publishes count descriptions added since the last Advance.
func (br *BufRing) Advance(count uint16) {
	br.tail += count
	word := uint32(br.bid0) | uint32(br.tail)<<16
	if bigEndian {
		word = uint32(br.bid0)<<16 | uint32(br.tail)
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&br.mem[12])), word)
}

// Close unregisters the ring and unmaps its memory. No request may be in
// flight on its group.
func (br *BufRing) Close() error {
	reg := bufReg{bgid: br.group}
	_, err := br.ring.register(unregisterPbufRing, unsafe.Pointer(&reg), 1)
	if err2 := unix.Munmap(br.mem); err == nil {
		err = err2
	}
	br.mem = nil
	return err
}
