package ioloop

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Conformance tests of Statx, which exists on Linux only (moved from
// conformance_files_test.go and conformance_misc_test.go).

func TestStatx(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		content := pattern(1234, 5)
		var path string
		var fd int
		var want unix.Stat_t
		if simOf(l) != nil {
			// The mode of a new file is OpenAt's, less the umask (022 on
			// the simulator); the inode number is checked for agreement
			// between the two ways of asking.
			path = filepath.Join(tempDir(t, l), "data")
			var r opResult
			var c Completion
			OpenAt(l, &c, unix.AT_FDCWD, path, unix.O_CREAT|unix.O_RDWR, 0o640, &r, (*opResult).onCount)
			await(t, l, &r)
			if r.err != nil {
				t.Fatalf("OpenAt(O_CREAT): %v", r.err)
			}
			fd = r.n
			r = opResult{}
			Write(l, &c, fd, content, 0, &r, (*opResult).onCount)
			await(t, l, &r)
			wantN(t, "Write", &r, len(content))
		} else {
			path, fd = tempFile(t, l, content)
			if err := os.Chmod(path, 0o640); err != nil {
				t.Fatal(err)
			}
			if err := unix.Stat(path, &want); err != nil {
				t.Fatal(err)
			}
		}
		check := func(what string, st *unix.Statx_t, wantType uint16) {
			t.Helper()
			if st.Mask&unix.STATX_BASIC_STATS != unix.STATX_BASIC_STATS {
				t.Fatalf("%s: mask %#x lacks STATX_BASIC_STATS", what, st.Mask)
			}
			if st.Mode&unix.S_IFMT != wantType {
				t.Fatalf("%s: file type %#o, want %#o", what, st.Mode&unix.S_IFMT, wantType)
			}
		}

		st := statxPath(t, l, path)
		var r opResult
		var c Completion
		check("Statx(path)", &st, unix.S_IFREG)
		if simOf(l) != nil {
			if st.Ino == 0 {
				t.Fatal("Statx(path): inode number 0")
			}
			want.Ino = st.Ino
		}
		if st.Size != 1234 || st.Mode&0o7777 != 0o640 || st.Ino != want.Ino || st.Nlink != 1 {
			t.Fatalf("Statx(path): size %d mode %#o ino %d nlink %d; want 1234, 0640, %d, 1", st.Size, st.Mode&0o7777, st.Ino, st.Nlink, want.Ino)
		}

		// AT_EMPTY_PATH: the file the descriptor refers to.
		var byFD unix.Statx_t
		r = opResult{}
		Statx(l, &c, fd, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &byFD, &r, (*opResult).onErr)
		await(t, l, &r)
		wantOK(t, "Statx(fd, AT_EMPTY_PATH)", &r)
		check("Statx(fd, AT_EMPTY_PATH)", &byFD, unix.S_IFREG)
		if byFD.Size != 1234 || byFD.Ino != want.Ino {
			t.Fatalf("Statx(fd, AT_EMPTY_PATH): size %d ino %d, want 1234, %d", byFD.Size, byFD.Ino, want.Ino)
		}

		// A directory, and a symlink with and without following it.
		dir := filepath.Dir(path)
		type typeCase struct {
			path     string
			flags    int
			wantType uint16
		}
		var types []typeCase
		if simOf(l) != nil { // a flat file system: its root is its only directory, and it has no links
			types = append(types, typeCase{"/", 0, unix.S_IFDIR})
		} else {
			link := filepath.Join(dir, "link")
			if err := os.Symlink(path, link); err != nil {
				t.Fatal(err)
			}
			types = append(types, typeCase{dir, 0, unix.S_IFDIR}, typeCase{link, 0, unix.S_IFREG},
				typeCase{link, unix.AT_SYMLINK_NOFOLLOW, unix.S_IFLNK})
		}
		for _, tc := range types {
			var s unix.Statx_t
			r = opResult{}
			Statx(l, &c, unix.AT_FDCWD, tc.path, tc.flags, unix.STATX_BASIC_STATS, &s, &r, (*opResult).onErr)
			await(t, l, &r)
			what := fmt.Sprintf("Statx(%s, %#x)", filepath.Base(tc.path), tc.flags)
			wantOK(t, what, &r)
			check(what, &s, tc.wantType)
		}

		for _, tc := range []struct {
			name  string
			dirfd int
			path  string
			flags int
			want  error
		}{
			{"missing path", unix.AT_FDCWD, filepath.Join(dir, "missing"), 0, syscall.ENOENT},
			{"empty path without AT_EMPTY_PATH", fd, "", 0, syscall.ENOENT},
			{"relative to a bad dirfd", badFD, "data", 0, syscall.EBADF},
			{"path with NUL", unix.AT_FDCWD, path + "\x00", 0, syscall.EINVAL},
		} {
			var s unix.Statx_t
			r = opResult{}
			Statx(l, &c, tc.dirfd, tc.path, tc.flags, unix.STATX_BASIC_STATS, &s, &r, (*opResult).onErr)
			if r.calls != 0 {
				t.Fatalf("Statx %s ran its callback synchronously", tc.name)
			}
			await(t, l, &r)
			wantErr(t, "Statx "+tc.name, &r, tc.want)
		}
	})
}

func TestStatxNilBufferPanics(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		defer func() {
			if recover() == nil {
				t.Error("Statx with a nil *Statx_t did not panic")
			}
		}()
		var r opResult
		Statx(l, new(Completion), unix.AT_FDCWD, "/", 0, unix.STATX_BASIC_STATS, nil, &r, (*opResult).onErr)
	})
}
