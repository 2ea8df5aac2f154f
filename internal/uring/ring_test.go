//go:build linux

package uring

import (
	"errors"
	"syscall"
	"testing"
	"unsafe"
)

func TestABISizes(t *testing.T) {
	// The kernel's struct sizes (include/uapi/linux/io_uring.h).
	for _, tc := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"io_uring_sqe", unsafe.Sizeof(SQE{}), 64},
		{"io_uring_cqe", unsafe.Sizeof(CQE{}), 16},
		{"io_uring_params", unsafe.Sizeof(Params{}), 120},
		{"io_uring_getevents_arg", unsafe.Sizeof(getEventsArg{}), 24},
		{"io_uring_probe_op", unsafe.Sizeof(probeOp{}), 8},
	} {
		if tc.got != tc.want {
			t.Errorf("sizeof(%s) = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

func TestSetupRejectsZeroEntries(t *testing.T) {
	if _, err := Setup(0, 0, 0); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Setup(0) = %v, want EINVAL", err)
	}
}

func TestNopRoundTrip(t *testing.T) {
	ring, err := Setup(4, 0, 0)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	defer ring.Close()
	if ring.SQEntries() != 4 || ring.CQEntries() != 8 {
		t.Fatalf("entries = %d/%d, want 4/8", ring.SQEntries(), ring.CQEntries())
	}
	supported, err := ring.Probe()
	if err != nil || len(supported) <= int(OpNop) || !supported[OpNop] {
		t.Fatalf("Probe: NOP not supported (%v)", err)
	}
	for i := uint64(1); i <= 4; i++ {
		sqe := ring.GetSQE()
		if sqe == nil {
			t.Fatalf("GetSQE %d: SQ full too early", i)
		}
		sqe.Opcode, sqe.Fd, sqe.UserData = OpNop, -1, i
	}
	if ring.GetSQE() != nil {
		t.Fatal("GetSQE on a full SQ returned an entry")
	}
	if toSubmit := ring.Publish(); toSubmit != 4 {
		t.Fatalf("Publish = %d, want 4", toSubmit)
	}
	if consumed, err := ring.Enter(4, true, 4, int64(1e9)); err != nil || consumed != 4 {
		t.Fatalf("Enter = %d, %v", consumed, err)
	}
	head, tail := ring.CQHeadTail()
	if tail-head != 4 {
		t.Fatalf("%d CQEs ready, want 4", tail-head)
	}
	for i := uint64(1); head != tail; head, i = head+1, i+1 {
		if cqe := ring.CQE(head); cqe.UserData != i || cqe.Res != 0 {
			t.Fatalf("CQE %d = %+v", i, *cqe)
		}
	}
	ring.SetCQHead(head)
	if ring.CQReady() != 0 || ring.SQSpace() != 4 {
		t.Fatalf("after reaping: %d ready, %d free", ring.CQReady(), ring.SQSpace())
	}
}

func TestEnterTimesOut(t *testing.T) {
	ring, err := Setup(2, 0, 0)
	if err != nil {
		t.Skipf("io_uring unavailable: %v", err)
	}
	defer ring.Close()
	if _, err := ring.Enter(0, true, 1, int64(1e6)); !errors.Is(err, syscall.ETIME) {
		t.Fatalf("waiting on an idle ring = %v, want ETIME", err)
	}
}
