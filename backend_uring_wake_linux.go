package ioloop

import (
	"unsafe"

	"github.com/ioloop/ioloop/internal/uring"
	"golang.org/x/sys/unix"
)

// How an io_uring loop is woken by other goroutines (see wakeup.go).
//
// The loop owns an eventfd. Before each blocking io_uring_enter it makes
// sure a read of that eventfd is in flight (armWake), so a producer's
// eventfd write (wakeKernel) completes the read and ends the wait. The read
// is the loop's own request, invisible to Pending and Run; its 8-byte
// buffer lives in the backend. Writes made while no read is in flight add
// to the eventfd's counter and complete the next read at once, so none is
// lost.
//
// The eventfd is blocking on purpose: io_uring waits for a blocking
// eventfd by polling it, while on kernels whose eventfd lacks nowait
// support a non-blocking one would fail the read with EAGAIN at once.

// Internal tokens (user_data) have a zero generation, which the inflight
// table never issues: internalToken (0) for requests whose completions need
// nothing, wakeReadToken for the wakeup read, and 1..n for the MSG_RING
// doorbell to peer n-1 (see doorbells).
const wakeReadToken uint64 = 1<<32 - 1

func isInternalToken(token uint64) bool { return token>>32 == 0 }

// openWake creates the eventfd and installs the loop's kernel wakeup.
func (b *uringBackend) openWake() error {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return err
	}
	b.wakeFD = fd
	b.loop.setKernelWake(b.wakeKernel)
	return nil
}

// wakeKernel is wakeup.kernel: safe from any goroutine while the loop's
// inbox gate admits the caller (Close closes the eventfd only after the
// gate has drained).
func (b *uringBackend) wakeKernel() {
	one := uint64(1) // eventfd adds a native-endian 64-bit value to its counter
	_, _, _ = unix.Syscall(unix.SYS_WRITE, uintptr(b.wakeFD), uintptr(unsafe.Pointer(&one)), 8)
}

// armWake puts the wakeup read in the submission queue unless it is in
// flight; false means the queue is full and the loop must not block.
func (b *uringBackend) armWake() bool {
	if b.wakeArmed {
		return true
	}
	sqe := b.ring.GetSQE()
	if sqe == nil {
		return false
	}
	sqe.Opcode = uring.OpRead
	sqe.Fd = int32(b.wakeFD)
	sqe.Addr = uint64(uintptr(unsafe.Pointer(&b.wakeBuf)))
	sqe.Len = uint32(len(b.wakeBuf))
	sqe.UserData = wakeReadToken
	b.wakeArmed = true
	return true
}

// internalCompletion handles a CQE of one of the loop's own requests.
func (b *uringBackend) internalCompletion(token uint64, res int32) {
	switch {
	case token == internalToken:
	case token == wakeReadToken:
		b.wakeArmed = false // re-armed before the next blocking wait
	case b.doorbells != nil && res < 0:
		b.doorbells.failed(token)
	}
}

// closeWake withdraws the wakeup read, waiting for the kernel to let go of
// its buffer, and closes the eventfd and the doorbells. Nothing else is in
// flight by now; the waits are bounded.
func (b *uringBackend) closeWake() error {
	for attempt := 0; b.wakeArmed && attempt < 100; attempt++ {
		if sqe := b.ring.GetSQE(); sqe != nil {
			sqe.Opcode = uring.OpAsyncCancel
			sqe.Fd = -1
			sqe.Addr = wakeReadToken
			sqe.UserData = internalToken
		}
		toSubmit := b.ring.Publish()
		if _, err := b.ring.Enter(toSubmit, true, 1, 10_000_000); err != nil && !transientEnterError(err) {
			return err
		}
		if err := b.reap(); err != nil {
			return err
		}
	}
	if b.doorbells != nil {
		b.doorbells.close()
	}
	return unix.Close(b.wakeFD)
}

// canRingDoorbell implements backend: the kernel has IORING_OP_MSG_RING
// and to is an io_uring loop too.
func (b *uringBackend) canRingDoorbell(to *Loop) bool {
	_, targetIsURing := to.backend.(*uringBackend)
	return b.doorbells != nil && targetIsURing
}

// ringDoorbell implements backend: it queues a MSG_RING doorbell for to,
// false if it cannot.
func (b *uringBackend) ringDoorbell(to *Loop) bool { return b.doorbells.ring(to) }

// doorbells rings other io_uring loops with IORING_OP_MSG_RING: a CQE
// posted straight into the target's completion queue ends its wait, and
// the request rides in this loop's next submission instead of costing an
// eventfd write. The CQE carries internalToken, which the target ignores;
// the message itself waits in the target's inbox.
//
// Each target's ring descriptor is duplicated on first use and kept until
// this loop closes: a target that closes meanwhile then leaves a ring
// nobody reads, rather than a descriptor number that a new file may reuse.
type doorbells struct {
	b *uringBackend
	// skipSuccess: the kernel has IOSQE_CQE_SKIP_SUCCESS, so a doorbell
	// that rang costs no CQE here.
	skipSuccess bool
	peers       []doorbellPeer
}

type doorbellPeer struct {
	loop   *Loop
	ringFD int
}

// maxDoorbellPeers bounds the peers table; beyond it, loops are woken by
// their eventfd.
const maxDoorbellPeers = 1 << 16

// ring queues a doorbell for to and reports whether it could.
func (d *doorbells) ring(to *Loop) bool {
	index := d.peerIndex(to)
	if index < 0 {
		return false
	}
	sqe := d.b.ring.GetSQE()
	if sqe == nil {
		return false
	}
	sqe.Opcode = uring.OpMsgRing
	sqe.Fd = int32(d.peers[index].ringFD)
	sqe.Addr = uring.MsgRingData
	sqe.Off = internalToken // the target CQE's user_data
	sqe.UserData = uint64(index) + 1
	if d.skipSuccess {
		sqe.Flags = uring.SQECQESkipSuccess
	}
	return true
}

func (d *doorbells) peerIndex(to *Loop) int {
	for i := range d.peers {
		if d.peers[i].loop == to {
			return i
		}
	}
	if len(d.peers) == maxDoorbellPeers {
		return -1
	}
	fd, err := unix.FcntlInt(uintptr(to.backend.(*uringBackend).ring.Fd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	d.peers = append(d.peers, doorbellPeer{loop: to, ringFD: fd})
	return len(d.peers) - 1
}

// failed falls back to the target's eventfd when a doorbell did not ring
// (the target's completion queue is full, or it is gone).
func (d *doorbells) failed(token uint64) {
	index := int(token - 1)
	if index >= len(d.peers) {
		return
	}
	d.peers[index].loop.wakeInKernel()
}

func (d *doorbells) close() {
	for _, peer := range d.peers {
		_ = unix.Close(peer.ringFD)
	}
	d.peers = nil
}
