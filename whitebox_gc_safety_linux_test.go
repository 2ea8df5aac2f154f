package ioloop

import (
	"testing"
	"weak"

	"golang.org/x/sys/unix"
)

// The Statx part of the GC safety tests (whitebox_gc_safety_test.go): Statx exists
// on Linux only.

//go:noinline
func gcSubmitStatx(l *Loop, tr *gcTracker, path string, size int64, ino uint64) {
	op, c := tr.newOp(l, gcStatx)
	op.wantSize, op.wantIno = size, ino
	st := new(unix.Statx_t)
	op.objs = append(op.objs, gcWatch(tr, st))
	op.stat = weak.Make(st)
	Statx(l, c, unix.AT_FDCWD, path, 0, unix.STATX_BASIC_STATS, st, op, (*gcOp).onErr)
}

// checkStatx checks what a Statx wrote into its buffer.
func (op *gcOp) checkStatx(tr *gcTracker, what string, st *unix.Statx_t) {
	if st.Mask&unix.STATX_SIZE == 0 || int64(st.Size) != op.wantSize || st.Ino != op.wantIno {
		tr.failf("%s: mask %#x size %d ino %d, want size %d ino %d", what, st.Mask, st.Size, st.Ino, op.wantSize, op.wantIno)
	}
}

// kernelFileIno returns the inode number of the open file fd, which
// Statx must report.
func kernelFileIno(t *testing.T, fd int) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// simFileIno returns the inode number of a file of the simulated node,
// which only Statx reports.
func simFileIno(t *testing.T, l *Loop, path string) uint64 {
	t.Helper()
	st := statxPath(t, l, path)
	return st.Ino
}

// statxPath runs Statx(AT_FDCWD, path, STATX_BASIC_STATS) on l and fails
// the test unless it succeeds.
func statxPath(t *testing.T, l *Loop, path string) unix.Statx_t {
	t.Helper()
	st, r := statxResult(t, l, path)
	wantOK(t, "Statx(path)", &r)
	return st
}

// statxResult runs Statx(AT_FDCWD, path, STATX_BASIC_STATS) on l and
// returns what it filled in and its callback's record.
func statxResult(t *testing.T, l *Loop, path string) (unix.Statx_t, opResult) {
	t.Helper()
	var st unix.Statx_t
	var r opResult
	var c Completion
	Statx(l, &c, unix.AT_FDCWD, path, 0, unix.STATX_BASIC_STATS, &st, &r, (*opResult).onErr)
	await(t, l, &r)
	return st, r
}
