package ioloop

import (
	"testing"
	"unsafe"
)

// TestCompletionLayout checks the layout docs/ARCHITECTURE.md describes:
// the fields every operation touches sit in the Completion's first 64
// bytes (one cache line), which measurably speeds up dispatch.
func TestCompletionLayout(t *testing.T) {
	var c Completion
	if end := unsafe.Offsetof(c.op) + unsafe.Sizeof(c.op); end > 64 {
		t.Errorf("hot fields end at byte %d, want <= 64", end)
	}
}

// TestCompletionSize pins the size of a Completion on 64-bit systems: the
// large, rare arguments live in rareArgs, attached on first use, so that a
// million timers or idle Recvs do not each carry them.
func TestCompletionSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the size is pinned for 64-bit systems")
	}
	if size := unsafe.Sizeof(Completion{}); size > 128 {
		t.Errorf("a Completion is %d bytes, want <= 128", size)
	}
}
