//go:build linux || windows

package ioloop

import (
	"syscall"
	"testing"
)

// fallocate(2)'s modes, which Linux has and the IOCP backend runs on
// Windows (backend_iocp_fileops_windows.go); the other systems refuse
// them (ENOTSUP, TestFileopsFallocate).

func init() {
	fileopsCases = append(fileopsCases, fileopsCase{"FallocateModes", testFileopsFallocateModes})
}

func TestFileopsFallocateModes(t *testing.T) { forEachBackend(t, Options{}, testFileopsFallocateModes) }

func fallocate(t *testing.T, l *Loop, fd int, mode uint32, offset, length int64) error {
	t.Helper()
	return fsOp(t, l, func(c *Completion, r *opResult) { Fallocate(l, c, fd, mode, offset, length, r, (*opResult).onErr) })
}

// wineAllocation reports whether l is the IOCP backend under wine 8.0,
// which has neither FileAllocationInfo (STATUS_NOT_IMPLEMENTED) nor
// FSCTL_SET_ZERO_DATA (STATUS_NOT_SUPPORTED): there Fallocate with
// FALLOC_FL_KEEP_SIZE past the end and FALLOC_FL_PUNCH_HOLE have nothing
// to run on and answer EOPNOTSUPP, as a Linux file system without them
// does, and change nothing (docs/ARCHITECTURE.md, "Windows").
func wineAllocation(l *Loop) bool { return l.Backend() == BackendIOCP && underWine() }

// unlessWineAllocation is the error a mode that wine cannot run answers:
// EOPNOTSUPP under wine, else nil.
func unlessWineAllocation(l *Loop) error {
	if wineAllocation(l) {
		return syscall.EOPNOTSUPP
	}
	return nil
}

func testFileopsFallocateModes(t *testing.T, l *Loop) {
	content := pattern(16384, 5)
	path, fd := tempFile(t, l, content)
	// KEEP_SIZE allocates past the end without growing the file.
	wantErrno(t, "Fallocate KEEP_SIZE", fallocate(t, l, fd, sysFALLOC_FL_KEEP_SIZE, 16384, 1<<20), unlessWineAllocation(l))
	if size := fileSize(t, l, fd); size != 16384 {
		t.Fatalf("size after Fallocate(KEEP_SIZE) past the end = %d, want 16384", size)
	}
	// PUNCH_HOLE (which requires KEEP_SIZE) makes a range read as zeros.
	wantErrno(t, "Fallocate PUNCH_HOLE", fallocate(t, l, fd, sysFALLOC_FL_PUNCH_HOLE|sysFALLOC_FL_KEEP_SIZE, 4096, 8192), unlessWineAllocation(l))
	want := append([]byte(nil), content...)
	if !wineAllocation(l) {
		clear(want[4096:12288])
	}
	wantFile(t, l, path, want)
	wantErrno(t, "Fallocate PUNCH_HOLE without KEEP_SIZE", fallocate(t, l, fd, sysFALLOC_FL_PUNCH_HOLE, 0, 4096), syscall.EOPNOTSUPP)
	// ZERO_RANGE zeros a range, and without KEEP_SIZE extends the file.
	wantErrno(t, "Fallocate ZERO_RANGE", fallocate(t, l, fd, sysFALLOC_FL_ZERO_RANGE, 12288, 8192), nil)
	want = append(want[:12288], make([]byte, 8192)...)
	wantFile(t, l, path, want)
}
