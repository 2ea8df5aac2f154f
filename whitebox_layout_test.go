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
