//go:build linux && cgo

package main

import (
	"testing"
	"unsafe"
)

// TestAllocsSteadyState proves that operations through the C API allocate
// nothing in steady state: once every C completion has its Go slot (its
// first use), a round of NOPs, timers and cancels, socket and file I/O,
// a post with an event trigger and wait, statx and messages, a chain with
// a link timeout, or pooled and multishot receives make zero allocations, on
// io_uring and on epoll.
func TestAllocsSteadyState(t *testing.T) {
	rounds := []struct {
		name string
		run  func(*testLoop) int
	}{
		{"nop", (*testLoop).roundNop},
		{"timers", (*testLoop).roundTimers},
		{"io", (*testLoop).roundIO},
		{"post", (*testLoop).roundPost},
		{"statx, sendmsg/recvmsg, send_zc", (*testLoop).roundMsg},
		{"chain with a link timeout", (*testLoop).roundChain},
		{"pooled and multishot receives", (*testLoop).roundPooled},
	}
	for _, backend := range []struct {
		name string
		id   int
	}{{"io_uring", testIOUring}, {"epoll", testEpoll}} {
		tl := newTestLoop(backend.id)
		if tl == nil {
			t.Logf("%s: not available here", backend.name)
			continue
		}
		for _, r := range rounds {
			for range 3 { // warm up: slots, Go-side storage, the kernel's
				if rc := r.run(tl); rc != 0 {
					t.Fatalf("%s %s: run returned %d", backend.name, r.name, rc)
				}
			}
			allocs := testing.AllocsPerRun(50, func() {
				if rc := r.run(tl); rc != 0 {
					t.Fatalf("%s %s: run returned %d", backend.name, r.name, rc)
				}
			})
			if allocs != 0 {
				t.Errorf("%s %s: %v allocations per round, want 0", backend.name, r.name, allocs)
			}
		}
		if n := tl.failures(); n != 0 {
			t.Errorf("%s: %d callbacks saw an unexpected result", backend.name, n)
		}
		tl.free()
	}
}

// TestSlotSize pins the slot at 192 bytes (see slot's padding).
func TestSlotSize(t *testing.T) {
	if size := unsafe.Sizeof(slot{}); size != 192 {
		t.Fatalf("slot is %d bytes, want 192", size)
	}
}
