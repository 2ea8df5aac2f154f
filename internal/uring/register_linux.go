//go:build linux

package uring

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Registered resources (io_uring_register(2)): a table of files that SQEs
// name by index (IOSQE_FIXED_FILE), and buffers that READ_FIXED and
// WRITE_FIXED name by index (sqe.buf_index), pinned once instead of at
// every request.

// Opcodes of registered buffers and zero-copy send.
const (
	OpReadFixed  uint8 = 4
	OpWriteFixed uint8 = 5
	OpSendZC     uint8 = 47 // 6.0: two CQEs, the second a notification (CQEFNotif)
)

// SQEFixedFile (IOSQE_FIXED_FILE) makes sqe.fd an index into the
// registered-file table instead of a descriptor.
const SQEFixedFile uint8 = 1 << 0

// CQE flags (io_uring_cqe.flags).
const (
	// CQEFMore (IORING_CQE_F_MORE): another CQE with the same user_data
	// follows (a multishot request stays armed; a zero-copy send's
	// notification is still to come).
	CQEFMore uint32 = 1 << 1
	// CQEFNotif (IORING_CQE_F_NOTIF): this CQE is a zero-copy send's
	// notification: the kernel no longer reads the buffer.
	CQEFNotif uint32 = 1 << 3
)

// io_uring_register opcodes of registered resources.
const (
	registerBuffers     uintptr = 0
	unregisterBuffers   uintptr = 1
	registerFiles       uintptr = 2
	unregisterFiles     uintptr = 3
	registerFilesUpdate uintptr = 6
)

// filesUpdate is struct io_uring_files_update.
type filesUpdate struct {
	offset uint32
	resv   uint32
	fds    uint64 // __aligned_u64: address of an int32 array
}

// register calls io_uring_register, retrying EINTR (a signal, such as Go's
// preemption signal, interrupted a registration that waited for the ring
// to quiesce).
func (r *Ring) register(opcode uintptr, arg unsafe.Pointer, nrArgs int) (int, error) {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), opcode, uintptr(arg), uintptr(nrArgs), 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}

// RegisterFiles registers the file table: one slot per element of fds,
// -1 for an empty (sparse) slot (IORING_REGISTER_FILES).
func (r *Ring) RegisterFiles(fds []int32) error {
	_, err := r.register(registerFiles, unsafe.Pointer(unsafe.SliceData(fds)), len(fds))
	return err
}

// UpdateFiles replaces the slots from offset on with fds; -1 empties a
// slot (IORING_REGISTER_FILES_UPDATE). Requests already issued on a
// replaced file keep their own reference to it.
func (r *Ring) UpdateFiles(offset uint32, fds []int32) error {
	update := filesUpdate{offset: offset, fds: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(fds))))}
	n, err := r.register(registerFilesUpdate, unsafe.Pointer(&update), len(fds))
	if err == nil && n != len(fds) {
		err = syscall.EIO // the kernel updated fewer slots than asked: never seen
	}
	return err
}

// UnregisterFiles removes the whole file table.
func (r *Ring) UnregisterFiles() error {
	_, err := r.register(unregisterFiles, nil, 0)
	return err
}

// RegisterBuffers pins the memory iovecs describe and registers it as
// buffers 0..len-1 (IORING_REGISTER_BUFFERS). The kernel reads the iovec
// array during the call only.
func (r *Ring) RegisterBuffers(iovecs []unix.Iovec) error {
	_, err := r.register(registerBuffers, unsafe.Pointer(unsafe.SliceData(iovecs)), len(iovecs))
	return err
}

// UnregisterBuffers unpins and forgets every registered buffer.
// Requests in flight on one keep it pinned until they complete.
func (r *Ring) UnregisterBuffers() error {
	_, err := r.register(unregisterBuffers, nil, 0)
	return err
}
