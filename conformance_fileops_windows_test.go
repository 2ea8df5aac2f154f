package ioloop

import (
	"syscall"
	"testing"
)

// Windows' checks of the file operations the IOCP backend answers with
// calls of other names (backend_iocp_fileops_windows.go): Fallocate's
// modes, Fadvise's checks, and that neither allocates per operation.

// sysFALLOC_FL_PUNCH_HOLE is Linux's FALLOC_FL_PUNCH_HOLE, a mode the
// IOCP backend refuses.
const sysFALLOC_FL_PUNCH_HOLE = 0x2

func TestWindowsFallocateModes(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "Fallocate's Windows modes (FileAllocationInfo)")
		path, fd := tempFile(t, l, pattern(4096, 4))
		err := fsOp(t, l, func(c *Completion, r *opResult) {
			Fallocate(l, c, fd, sysFALLOC_FL_PUNCH_HOLE|sysFALLOC_FL_KEEP_SIZE, 0, 4096, r, (*opResult).onErr)
		})
		wantErrno(t, "Fallocate PUNCH_HOLE|KEEP_SIZE", err, syscall.EOPNOTSUPP)
		wantFile(t, l, path, pattern(4096, 4))

		ro, err := openAt(t, l, path, sysO_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = fsOp(t, l, func(c *Completion, r *opResult) { Fallocate(l, c, ro, 0, 0, 8192, r, (*opResult).onErr) })
		wantErrno(t, "Fallocate of a read-only handle", err, syscall.EBADF)

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
