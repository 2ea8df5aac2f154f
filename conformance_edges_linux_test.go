package ioloop

import (
	"math"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Linux-only edges: Statx exists on Linux only, and the file size limit
// is ext4's.

func TestEdgeStatxNameTooLong(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, _ := tempFile(t, l, []byte("data"))
		dir := filepath.Dir(path)
		stat := func(what, path string, want error) {
			t.Helper()
			_, r := statxResult(t, l, path)
			wantErr(t, what, &r, want)
		}
		if st := statxPath(t, l, padPath(t, dir, "data", pathMax-1)); st.Size != 4 {
			t.Fatalf("Statx of a PATH_MAX-1 path: size %d, want 4", st.Size)
		}
		stat("Statx of a PATH_MAX path", padPath(t, dir, "data", pathMax), syscall.ENAMETOOLONG)
		stat("Statx of a NAME_MAX name", filepath.Join(dir, strings.Repeat("n", nameMax)), syscall.ENOENT)
		stat("Statx of a NAME_MAX+1 name", filepath.Join(dir, strings.Repeat("n", nameMax+1)), syscall.ENAMETOOLONG)
	})
}

// ext4MaxFileBytes is s_maxbytes of ext4 with 4 KiB blocks, the file
// system the simulator's limits copy.
const ext4MaxFileBytes = 16<<40 - 4096

// TestEdgeFileSizeLimit: a write at or past the file system's largest
// size fails with EFBIG, one crossing it is short, and one whose end
// overflows an offset fails with EINVAL. On the kernel it runs only where
// the test's files are on ext4.
func TestEdgeFileSizeLimit(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, fd := tempFile(t, l, nil)
		if simOf(l) == nil {
			var fs unix.Statfs_t
			if err := unix.Statfs(path, &fs); err != nil {
				t.Fatal(err)
			}
			if fs.Type != unix.EXT4_SUPER_MAGIC {
				t.Skipf("%s is not on ext4 (f_type %#x): its size limit differs", path, fs.Type)
			}
		}
		for _, tc := range []struct {
			offset int64
			buf    string
			n      int
			err    error
		}{
			{ext4MaxFileBytes - 1, "XY", 1, nil},
			{ext4MaxFileBytes, "X", 0, syscall.EFBIG},
			{math.MaxInt64 - 1, "X", 0, syscall.EFBIG},
			{math.MaxInt64, "X", 0, syscall.EINVAL},
		} {
			var r opResult
			var c Completion
			Write(l, &c, fd, []byte(tc.buf), tc.offset, &r, (*opResult).onCount)
			await(t, l, &r)
			if tc.err != nil {
				wantErr(t, "Write at the limit", &r, tc.err)
			} else {
				wantN(t, "Write across the limit", &r, tc.n)
			}
		}
	})
}
