package ioloop

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The Linux side of conformance_allocs_test.go: the peer's plain system
// calls, the Linux-only operations (Statx, SyncFileRange) and io_uring's
// own variants (the worker fallback, the MSG_RING doorbell).

func init() {
	fileWorkersFallbackLoop = func(t *testing.T) *Loop { return newFileFallbackLoop(t, Options{}, allMissing) }
}

// peerSend writes b to the non-blocking socket fd with write(2), outside
// the loop.
func peerSend(fd int, b []byte) (int, error) { return unix.Write(fd, b) }

// peerRecv reads from the non-blocking socket fd with read(2), outside the
// loop: EAGAIN when nothing is there.
func peerRecv(fd int, b []byte) (int, error) { return unix.Read(fd, b) }

// fileopsAllocCasesOS are TestAllocsFileops's Linux-only cases.
func fileopsAllocCasesOS(l *Loop, fd int) []allocCase {
	return []allocCase{
		{"SyncFileRange", 200, func(s *allocState) {
			SyncFileRange(l, &s.c, fd, 0, 4096, unix.SYNC_FILE_RANGE_WRITE, s, (*allocState).onErr)
			s.wait(1)
		}},
	}
}

// wantDoorbellRung fails unless a Message from l to peer went through
// io_uring's MSG_RING doorbell, where l's kernel has it: otherwise the
// measured path was the eventfd fallback.
func wantDoorbellRung(t *testing.T, l, peer *Loop) {
	t.Helper()
	if b := uringOf(l); b != nil && b.canRingAny() && !doorbellPeered(l, peer) {
		t.Fatal("no MSG_RING doorbell was rung: the measured path was the eventfd fallback")
	}
}

func TestAllocsStatx(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, fd := tempFile(t, l, []byte("stat me"))
		var st unix.Statx_t
		t.Run("path", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				Statx(l, &s.c, unix.AT_FDCWD, path, 0, unix.STATX_BASIC_STATS, &st, s, (*allocState).onErr)
				s.wait(1)
			})
			if st.Size != 7 {
				t.Fatalf("Statx size %d, want 7", st.Size)
			}
		})
		t.Run("AT_EMPTY_PATH", func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 500, func() {
				Statx(l, &s.c, fd, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &st, s, (*allocState).onErr)
				s.wait(1)
			})
		})
	})
}
