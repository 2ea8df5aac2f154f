//go:build linux

package uring

import (
	"errors"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestBufRingABI(t *testing.T) {
	if got := unsafe.Sizeof(bufReg{}); got != 40 {
		t.Fatalf("sizeof(io_uring_buf_reg) = %d, want 40", got)
	}
}

func TestRegisterBufRingRejectsBadEntries(t *testing.T) {
	ring, err := Setup(4, 0, 0)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	defer ring.Close()
	for _, entries := range []uint32{0, 3, MaxBufRingEntries * 2} {
		if _, err := ring.RegisterBufRing(entries, 0); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("RegisterBufRing(%d) = %v, want EINVAL", entries, err)
		}
	}
}

// TestMultishotRecvTakesProvidedBuffers runs a multishot RECV with buffer
// select on a socketpair through more arrivals than the ring has entries:
// each CQE names the buffer that holds its bytes, the tail's publication
// (entry 0 included) lets the kernel take buffers put back, and an empty
// ring ends the request with ENOBUFS and no F_MORE.
func TestMultishotRecvTakesProvidedBuffers(t *testing.T) {
	ring, err := Setup(8, 0, 0)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	defer ring.Close()
	const entries, sizeBytes, group = 4, 64, 7
	br, err := ring.RegisterBufRing(entries, group)
	if err != nil {
		t.Skipf("provided-buffer rings unavailable: %v", err)
	}
	defer br.Close()
	slab := make([]byte, entries*sizeBytes)
	bufferAddr := func(id uint16) uintptr { return uintptr(unsafe.Pointer(&slab[int(id)*sizeBytes])) }
	for id := uint16(0); id < entries; id++ {
		br.Add(bufferAddr(id), sizeBytes, id, id)
	}
	br.Advance(entries)

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])

	sqe := ring.GetSQE()
	sqe.Opcode, sqe.Fd, sqe.UserData = OpRecv, int32(fds[0]), 42
	sqe.Flags = SQEBufferSelect
	sqe.BufIndex = group
	sqe.IOPrio = RecvMultishot

	// Three rounds of four messages: twelve arrivals through four
	// buffers, each put back after its CQE is read.
	submitted := false
	for round := 0; round < 3; round++ {
		for i := 0; i < entries; i++ {
			msg := []byte{byte('a' + round), byte('0' + i)}
			if _, err := unix.Write(fds[1], msg); err != nil {
				t.Fatal(err)
			}
			toSubmit := uint32(0)
			if !submitted {
				toSubmit, submitted = ring.Publish(), true
			}
			if _, err := ring.Enter(toSubmit, true, 1, int64(2e9)); err != nil {
				t.Fatal(err)
			}
			head, tail := ring.CQHeadTail()
			if tail-head != 1 {
				t.Fatalf("round %d message %d: %d CQEs, want 1", round, i, tail-head)
			}
			cqe := *ring.CQE(head)
			ring.SetCQHead(head + 1)
			if cqe.Res != 2 || cqe.Flags&CQEFBuffer == 0 || cqe.Flags&CQEFMore == 0 {
				t.Fatalf("round %d message %d: CQE %+v, want 2 bytes with F_BUFFER and F_MORE", round, i, cqe)
			}
			id := uint16(cqe.Flags >> CQEBufferShift)
			if id >= entries {
				t.Fatalf("buffer id %d out of range", id)
			}
			if got := slab[int(id)*sizeBytes : int(id)*sizeBytes+2]; string(got) != string(msg) {
				t.Fatalf("buffer %d holds %q, want %q", id, got, msg)
			}
			br.Add(bufferAddr(id), sizeBytes, id, 0)
			br.Advance(1)
		}
	}

	// Take all four buffers without putting them back; the fifth
	// arrival finds none.
	for i := 0; i <= entries; i++ {
		if _, err := unix.Write(fds[1], []byte{'x'}); err != nil {
			t.Fatal(err)
		}
		if _, err := ring.Enter(0, true, 1, int64(2e9)); err != nil {
			t.Fatal(err)
		}
		head, _ := ring.CQHeadTail()
		cqe := *ring.CQE(head)
		ring.SetCQHead(head + 1)
		if i < entries {
			if cqe.Res != 1 || cqe.Flags&CQEFMore == 0 {
				t.Fatalf("arrival %d: CQE %+v", i, cqe)
			}
			continue
		}
		if cqe.Res != -int32(syscall.ENOBUFS) || cqe.Flags&CQEFMore != 0 {
			t.Fatalf("with an empty ring: CQE %+v, want ENOBUFS without F_MORE", cqe)
		}
	}
}
