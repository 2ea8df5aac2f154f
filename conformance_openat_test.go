package ioloop

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// TestOpenAt creates a file with OpenAt, writes and reads it through the
// new descriptor, opens it again relative to a directory descriptor, and
// checks what a failed OpenAt reports.
func TestOpenAt(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		dir := tempDir(t, l)
		path := joinPath(l, dir, "created")
		var r opResult
		var c Completion
		OpenAt(l, &c, sysAT_FDCWD, path, sysO_CREAT|sysO_EXCL|sysO_RDWR, 0o640, &r, (*opResult).onCount)
		await(t, l, &r)
		if r.err != nil || r.n < 0 {
			t.Fatalf("OpenAt(O_CREAT): fd=%d err=%v", r.n, r.err)
		}
		fd := r.n
		ownFD(t, l, fd)
		if simOf(l) == nil { // simulated descriptors have no flags; the mode: TestStatx
			checkOpenedFile(t, fd, sysO_RDWR, 0o640)
		}
		r = opResult{}
		Write(l, &c, fd, []byte("via openat"), -1, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Write through the fd from OpenAt", &r, 10)
		wantFile(t, l, path, []byte("via openat"))
		r = opResult{}
		buf := make([]byte, 16)
		Read(l, &c, fd, buf, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Read through the fd from OpenAt", &r, 10)

		// Relative to a directory descriptor: not on IOCP, which takes
		// absolute paths or AT_FDCWD only and refuses a dirfd with EINVAL
		// (docs/ARCHITECTURE.md, "Windows").
		relative := l.Backend() != BackendIOCP
		if relative {
			dirFD := openFile(t, l, dir, sysO_RDONLY|sysO_DIRECTORY)
			r = opResult{}
			OpenAt(l, &c, dirFD, "created", sysO_RDONLY, 0, &r, (*opResult).onCount)
			await(t, l, &r)
			if r.err != nil || r.n < 0 {
				t.Fatalf("OpenAt(dirfd, relative): fd=%d err=%v", r.n, r.err)
			}
			ownFD(t, l, r.n)
			got := make([]byte, 16)
			r2 := opResult{}
			Read(l, &c, r.n, got, 0, &r2, (*opResult).onCount)
			await(t, l, &r2)
			if string(got[:r2.n]) != "via openat" {
				t.Fatalf("read %q through the fd from OpenAt(dirfd)", got[:r2.n])
			}
		}

		type errCase struct {
			name  string
			dirfd int
			path  string
			flags int
			want  error
		}
		cases := []errCase{
			{"missing file", sysAT_FDCWD, joinPath(l, dir, "missing"), sysO_RDONLY, syscall.ENOENT},
			{"O_EXCL on an existing file", sysAT_FDCWD, path, sysO_CREAT | sysO_EXCL | sysO_RDWR, syscall.EEXIST},
			{"O_DIRECTORY on a file", sysAT_FDCWD, path, sysO_RDONLY | sysO_DIRECTORY, syscall.ENOTDIR},
			{"path with NUL", sysAT_FDCWD, path + "\x00suffix", sysO_RDONLY, syscall.EINVAL},
		}
		if relative {
			cases = append(cases, errCase{"relative to a bad dirfd", badFD, "created", sysO_RDONLY, syscall.EBADF})
		}
		if simOf(l) == nil { // the simulated file system is flat: every directory exists
			cases = append(cases, errCase{"missing directory", sysAT_FDCWD, joinPath(l, dir, "no", "file"), sysO_CREAT | sysO_RDWR, syscall.ENOENT})
		}
		for _, tc := range cases {
			r = opResult{}
			OpenAt(l, &c, tc.dirfd, tc.path, tc.flags, 0o600, &r, (*opResult).onCount)
			if r.calls != 0 {
				t.Fatalf("OpenAt %s ran its callback synchronously", tc.name)
			}
			await(t, l, &r)
			if r.err == nil {
				ownFD(t, l, r.n)
			}
			wantErr(t, "OpenAt "+tc.name, &r, tc.want)
			if r.n != -1 {
				t.Fatalf("failed OpenAt %s reported fd %d, want -1", tc.name, r.n)
			}
		}
		if simOf(l) == nil {
			if _, err := os.Stat(joinPath(l, dir, "no")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("failed OpenAt created something: %v", err)
			}
		}
	})
}
