package ioloop

import (
	"syscall"
	"unsafe"

	"github.com/ioloop/ioloop/internal/uring"
	"golang.org/x/sys/unix"
)

// Registered files and buffers on io_uring (ops_fixed.go has the API and
// the loop's bookkeeping, the same on every backend). The kernel's table
// of registered files is created sparse (every slot empty) at the first
// RegisterFile, and slots are filled and emptied with
// IORING_REGISTER_FILES_UPDATE; prep then names a registered descriptor by
// its slot (useFixedFile).

// fixedFileCapable marks the operations whose sqe.fd may name a registered
// file: those on an open socket or file. Not Close (IORING_OP_CLOSE closes
// a slot only through file_index, and Close unregisters first), and not
// the operations whose fd is a directory for a path (OpenAt, Statx, ...),
// which the kernel resolves by number. It has 256 entries so that indexing
// by an opcode needs no bounds check.
var fixedFileCapable = [256]bool{
	opAccept: true, opConnect: true, opRecv: true, opSend: true, opRead: true, opWrite: true,
	opReadv: true, opWritev: true, opFsync: true, opShutdown: true, opFallocate: true,
	opFadvise: true, opSyncFileRange: true,
	opReadFixed: true, opWriteFixed: true, opSendZC: true,
}

// useFixedFile makes sqe name c's descriptor by its registered slot, if it
// has one.
func (b *uringBackend) useFixedFile(sqe *uring.SQE, c *Completion) {
	if !fixedFileCapable[c.op] {
		return
	}
	if slot := b.loop.fixed.fixedSlot(c.fd); slot >= 0 {
		sqe.Fd = slot
		sqe.Flags |= uring.SQEFixedFile
	}
}

// registerFile implements fixedRegistrar.
func (b *uringBackend) registerFile(fd int, slot int32) error {
	if !b.fileTable {
		empty := make([]int32, MaxRegisteredFiles)
		for i := range empty {
			empty[i] = -1
		}
		if err := b.ring.RegisterFiles(empty); err != nil {
			return &registerError{"IORING_REGISTER_FILES", err}
		}
		b.fileTable = true
	}
	one := [1]int32{int32(fd)}
	if err := b.ring.UpdateFiles(uint32(slot), one[:]); err != nil {
		return &registerError{"IORING_REGISTER_FILES_UPDATE", err}
	}
	return nil
}

// unregisterFile implements fixedRegistrar.
func (b *uringBackend) unregisterFile(slot int32) error {
	empty := [1]int32{-1}
	if err := b.ring.UpdateFiles(uint32(slot), empty[:]); err != nil {
		return &registerError{"IORING_REGISTER_FILES_UPDATE", err}
	}
	return nil
}

// registerBuffers implements fixedRegistrar.
func (b *uringBackend) registerBuffers(bufs [][]byte) error {
	iovecs := make([]unix.Iovec, len(bufs))
	for i, buf := range bufs {
		iovecs[i].Base = unsafe.SliceData(buf)
		iovecs[i].SetLen(len(buf))
	}
	if err := b.ring.RegisterBuffers(iovecs); err != nil {
		return &registerError{"IORING_REGISTER_BUFFERS", err}
	}
	return nil
}

// unregisterBuffers implements fixedRegistrar.
func (b *uringBackend) unregisterBuffers() error {
	if err := b.ring.UnregisterBuffers(); err != nil && err != syscall.ENXIO { // ENXIO: none registered
		return &registerError{"IORING_UNREGISTER_BUFFERS", err}
	}
	return nil
}

// registerError names the io_uring_register call that failed; errors.Is
// sees its errno.
type registerError struct {
	call string
	err  error
}

func (e *registerError) Error() string { return "io_uring_register " + e.call + ": " + e.err.Error() }
func (e *registerError) Unwrap() error { return e.err }

// prepFixed fills the SQE of a ReadFixed or WriteFixed: a Read or Write
// whose buffer lies in registered buffer c.index, found at submission.
func prepFixed(sqe *uring.SQE, c *Completion) {
	sqe.Opcode = uring.OpReadFixed
	if c.op == opWriteFixed {
		sqe.Opcode = uring.OpWriteFixed
	}
	setBuffer(sqe, c.io.buf)
	sqe.Off = uint64(c.io.offset)
	sqe.BufIndex = uint16(c.index)
}
