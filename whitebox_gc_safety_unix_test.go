//go:build !windows

package ioloop

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The parts of the GC safety tests (whitebox_gc_safety_test.go) that
// differ by system, for Unix.

// kernelPipe returns the two ends of a (blocking) pipe, closed at cleanup.
func (f *gcFixture) kernelPipe(t *testing.T) (r, w int) {
	var p [2]int
	if err := testPipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	return f.fds.add(p[0]), f.fds.add(p[1])
}
