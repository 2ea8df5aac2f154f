package ioloop

import (
	"bytes"
	"syscall"
	"testing"
)

// Windows' checks of the file operations the IOCP backend answers with
// calls of other names (backend_iocp_fileops_windows.go): Fallocate's
// modes, Fadvise's checks, and that neither allocates per operation.

// sysFALLOC_FL_COLLAPSE_RANGE is Linux's FALLOC_FL_COLLAPSE_RANGE, a mode
// the IOCP backend refuses.
const sysFALLOC_FL_COLLAPSE_RANGE = 0x8

func TestWindowsFallocateModes(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "Fallocate's Windows modes (FileAllocationInfo)")
		path, fd := tempFile(t, l, pattern(4096, 4))
		// Modes Windows has no call for, and PUNCH_HOLE with ZERO_RANGE,
		// which Linux refuses as mutually exclusive: EOPNOTSUPP, nothing
		// changed.
		for _, mode := range []uint32{sysFALLOC_FL_COLLAPSE_RANGE, sysFALLOC_FL_PUNCH_HOLE | sysFALLOC_FL_ZERO_RANGE | sysFALLOC_FL_KEEP_SIZE} {
			err := fsOp(t, l, func(c *Completion, r *opResult) {
				Fallocate(l, c, fd, mode, 0, 4096, r, (*opResult).onErr)
			})
			wantErrno(t, "Fallocate of an unsupported mode", err, syscall.EOPNOTSUPP)
		}
		wantFile(t, l, path, pattern(4096, 4))

		ro, err := openAt(t, l, path, sysO_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = fsOp(t, l, func(c *Completion, r *opResult) { Fallocate(l, c, ro, 0, 0, 8192, r, (*opResult).onErr) })
		wantErrno(t, "Fallocate of a read-only handle", err, syscall.EBADF)
		err = fsOp(t, l, func(c *Completion, r *opResult) {
			Fallocate(l, c, ro, sysFALLOC_FL_ZERO_RANGE, 0, 4096, r, (*opResult).onErr)
		})
		wantErrno(t, "Fallocate ZERO_RANGE of a read-only handle", err, syscall.EBADF)

		err = fsOp(t, l, func(c *Completion, r *opResult) {
			Fallocate(l, c, fd, sysFALLOC_FL_KEEP_SIZE, 4096, 1<<20, r, (*opResult).onErr)
		})
		if underWine() {
			// Wine has no FileAllocationInfo (STATUS_NOT_IMPLEMENTED).
			wantErrno(t, "Fallocate KEEP_SIZE under wine", err, syscall.EOPNOTSUPP)
		} else {
			wantErrno(t, "Fallocate KEEP_SIZE", err, nil)
		}
		if size := fileSize(t, l, fd); size != 4096 {
			t.Fatalf("size after Fallocate(KEEP_SIZE) past the end = %d, want 4096", size)
		}
	})
}

func TestWindowsFadviseChecks(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "Fadvise's checks on Windows handles")
		_, fd := tempFile(t, l, pattern(4096, 5))
		fadvise := func(fd int, advice int) error {
			return fsOp(t, l, func(c *Completion, r *opResult) { Fadvise(l, c, fd, 0, 0, advice, r, (*opResult).onErr) })
		}
		for advice := 0; advice <= posixFadvNoreuse; advice++ {
			wantErrno(t, "Fadvise with a known advice", fadvise(fd, advice), nil)
		}
		wantErrno(t, "Fadvise with an unknown advice", fadvise(fd, posixFadvNoreuse+1), syscall.EINVAL)
		wantErrno(t, "Fadvise with a negative advice", fadvise(fd, -1), syscall.EINVAL)
		client, _ := tcpPair(t, l, loopback4)
		wantErrno(t, "Fadvise of a socket", fadvise(client, 0), syscall.ESPIPE)
	})
}

// TestFileopsLongLengths is Windows' form of the Linux test of the same
// name (conformance_fileops_linux_test.go): lengths of 4 GiB and more
// reach the call whole. Windows has no SyncFileRange (a Linux-only API),
// so its 64-bit length is checked with Fallocate's instead: ZERO_RANGE of
// exactly 4 GiB at 4 KiB into an 8 KiB file zeros its second half and
// makes it 4 GiB + 4 KiB long, where a length cut to 32 bits (0) would do
// nothing. The file is made sparse first (makeSparse), so that the size
// needs no clusters where the file system keeps holes; it is cut back at
// the end. The simulator, which would hold the zeros in memory, checks
// Fadvise only.
func TestFileopsLongLengths(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		content := pattern(8192, 7)
		_, fd := tempFile(t, l, content)
		const fourGiB = 1 << 32
		err := fsOp(t, l, func(c *Completion, r *opResult) {
			Fadvise(l, c, fd, 0, fourGiB+1, 4 /* POSIX_FADV_DONTNEED */, r, (*opResult).onErr)
		})
		wantErrno(t, "Fadvise of 4 GiB + 1", err, nil)
		if simOf(l) != nil {
			return
		}
		makeSparse(t, l, fd)
		wantErrno(t, "Fallocate ZERO_RANGE of 4 GiB", fallocate(t, l, fd, sysFALLOC_FL_ZERO_RANGE, 4096, fourGiB), nil)
		if size := fileSize(t, l, fd); size != 4096+fourGiB {
			t.Fatalf("size after Fallocate(ZERO_RANGE) of 4 GiB at 4096 = %d, want %d", size, int64(4096+fourGiB))
		}
		buf := make([]byte, 8192)
		var r opResult
		var c Completion
		Read(l, &c, fd, buf, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Read of the first 8 KiB", &r, len(buf))
		if want := append(append([]byte{}, content[:4096]...), make([]byte, 4096)...); !bytes.Equal(buf, want) {
			t.Fatalf("after ZERO_RANGE at 4096: the first 8 KiB are not the first 4 KiB then zeros")
		}
		err = fsOp(t, l, func(c *Completion, r *opResult) { Ftruncate(l, c, fd, 8192, r, (*opResult).onErr) })
		wantErrno(t, "Ftruncate back to 8 KiB", err, nil)
	})
}
