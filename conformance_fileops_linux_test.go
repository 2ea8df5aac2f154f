package ioloop

import (
	"math"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The Linux-only parts of the file-system operations: SyncFileRange, and
// lengths that do not fit the 32-bit length of an
// io_uring SQE (FADVISE, SYNC_FILE_RANGE), which the io_uring backend
// runs on its workers.

func init() {
	fileopsCases = append(fileopsCases,
		fileopsCase{"SyncFileRange", testFileopsSyncFileRange},
		fileopsCase{"LongLengths", testFileopsLongLengths},
	)
}

func TestFileopsSyncFileRange(t *testing.T) { forEachBackend(t, Options{}, testFileopsSyncFileRange) }
func TestFileopsLongLengths(t *testing.T)   { forEachBackend(t, Options{}, testFileopsLongLengths) }

// Linux's fallocate(2) modes, by the names the IOCP backend gives them on
// Windows (backend_iocp_fileops_windows.go), for
// conformance_fileops_modes_test.go.
const (
	sysFALLOC_FL_KEEP_SIZE  = unix.FALLOC_FL_KEEP_SIZE
	sysFALLOC_FL_PUNCH_HOLE = unix.FALLOC_FL_PUNCH_HOLE
	sysFALLOC_FL_ZERO_RANGE = unix.FALLOC_FL_ZERO_RANGE
)

func testFileopsSyncFileRange(t *testing.T, l *Loop) {
	_, fd := tempFile(t, l, pattern(65536, 6))
	sfr := func(fd int, offset, length int64, flags int) error {
		return fsOp(t, l, func(c *Completion, r *opResult) {
			SyncFileRange(l, c, fd, offset, length, flags, r, (*opResult).onErr)
		})
	}
	all := unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	wantErrno(t, "SyncFileRange write", sfr(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE), nil)
	wantErrno(t, "SyncFileRange wait and write", sfr(fd, 4096, 8192, all), nil)
	wantErrno(t, "SyncFileRange of a bad fd", sfr(badFD, 0, 0, unix.SYNC_FILE_RANGE_WRITE), syscall.EBADF)
	wantErrno(t, "SyncFileRange with unknown flags", sfr(fd, 0, 0, 1<<8), syscall.EINVAL)
	wantErrno(t, "SyncFileRange with a negative offset", sfr(fd, -1, 0, unix.SYNC_FILE_RANGE_WRITE), syscall.EINVAL)
}

// testFileopsLongLengths: lengths of 4 GiB and more. sync_file_range
// rejects a range whose end overflows (EINVAL) and takes a length of 0 as
// "to the end", so a length of exactly 4 GiB near the largest offset tells
// a 64-bit length (EINVAL) from one cut to 32 bits (0: success). Fadvise
// takes any range; there the test checks that io_uring ran it on a worker
// instead of cutting it into the SQE.
func testFileopsLongLengths(t *testing.T, l *Loop) {
	_, fd := tempFile(t, l, pattern(4096, 7))
	const fourGiB = 1 << 32
	b := uringOf(l)
	if b != nil && b.poolWorkers() != 0 {
		t.Fatalf("io_uring: %d file workers before any operation needed one", b.poolWorkers())
	}
	err := fsOp(t, l, func(c *Completion, r *opResult) {
		Fadvise(l, c, fd, 0, fourGiB+1, unix.FADV_DONTNEED, r, (*opResult).onErr)
	})
	wantErrno(t, "Fadvise of 4 GiB + 1", err, nil)
	if b != nil && b.poolWorkers() == 0 {
		t.Fatalf("io_uring: Fadvise of 4 GiB + 1 did not run on a worker (the SQE would cut it to 32 bits)")
	}
	err = fsOp(t, l, func(c *Completion, r *opResult) {
		SyncFileRange(l, c, fd, math.MaxInt64-fourGiB/2, fourGiB, unix.SYNC_FILE_RANGE_WRITE, r, (*opResult).onErr)
	})
	wantErrno(t, "SyncFileRange of 4 GiB ending past the largest offset", err, syscall.EINVAL)
	err = fsOp(t, l, func(c *Completion, r *opResult) {
		SyncFileRange(l, c, fd, 0, fourGiB+4096, unix.SYNC_FILE_RANGE_WRITE, r, (*opResult).onErr)
	})
	wantErrno(t, "SyncFileRange of 4 GiB + 4 KiB", err, nil)
}
