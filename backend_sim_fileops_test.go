//go:build linux

package ioloop

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The simulator's file operations through the loop: the adapter's
// translation of each opcode and its flags, and no allocation per
// operation in steady state, as conformance_allocs_test.go measures the
// others.

func newSimFileLoop(t *testing.T) *Loop {
	t.Helper()
	return newTestLoop(t, Options{Backend: BackendSimulator})
}

func TestSimFileOpsThroughTheLoop(t *testing.T) {
	l := newSimFileLoop(t)
	node := simOf(l).node
	dir := tempDir(t, l)
	s := &allocState{loop: l}
	check := func(what string, want syscall.Errno) {
		t.Helper()
		s.wait(1)
		var got syscall.Errno
		if s.err != nil {
			got, _ = s.err.(syscall.Errno)
			if got == 0 {
				t.Fatalf("%s: %v, not an errno", what, s.err)
			}
		}
		s.err = nil
		if got != want {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
	Mkdirat(l, &s.c, unix.AT_FDCWD, dir+"/d", 0o750, s, (*allocState).onErr)
	check("Mkdirat", 0)
	Mkdirat(l, &s.c, unix.AT_FDCWD, dir+"/d", 0o750, s, (*allocState).onErr)
	check("Mkdirat of an existing directory", syscall.EEXIST)
	OpenAt(l, &s.c, unix.AT_FDCWD, dir+"/d", unix.O_RDONLY|unix.O_DIRECTORY, 0, s, (*allocState).onCount)
	check("OpenAt O_DIRECTORY", 0)
	dirFD := s.n
	OpenAt(l, &s.c, dirFD, "f", unix.O_CREAT|unix.O_RDWR, 0o644, s, (*allocState).onCount)
	check("OpenAt relative to a directory", 0)
	fd := s.n
	WriteDurable(l, &s.c, fd, []byte("durable"), 0, DataSync, s, (*allocState).onCount)
	check("WriteDurable", 0)
	Fsync(l, &s.c, dirFD, s, (*allocState).onErr)
	check("Fsync of a directory", 0)
	Linkat(l, &s.c, dirFD, "f", unix.AT_FDCWD, dir+"/link", 0, s, (*allocState).onErr)
	check("Linkat", 0)
	Linkat(l, &s.c, dirFD, "f", unix.AT_FDCWD, dir+"/link", unix.AT_SYMLINK_FOLLOW, s, (*allocState).onErr)
	check("Linkat over an existing name", syscall.EEXIST)
	Linkat(l, &s.c, dirFD, "f", unix.AT_FDCWD, "/dev/shm/link", 0, s, (*allocState).onErr)
	check("Linkat to /dev/shm", syscall.EXDEV)
	Symlinkat(l, &s.c, "d/f", unix.AT_FDCWD, dir+"/sym", s, (*allocState).onErr)
	check("Symlinkat", 0)
	var st unix.Statx_t
	Statx(l, &s.c, unix.AT_FDCWD, dir+"/sym", unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st, s, (*allocState).onErr)
	check("Statx AT_SYMLINK_NOFOLLOW", 0)
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Fatalf("Statx of a symlink without following: mode %#o", st.Mode)
	}
	Statx(l, &s.c, unix.AT_FDCWD, dir+"/sym", 0, unix.STATX_BASIC_STATS, &st, s, (*allocState).onErr)
	check("Statx through a symlink", 0)
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 2 || st.Size != 7 {
		t.Fatalf("Statx through a symlink: mode %#o nlink %d size %d", st.Mode, st.Nlink, st.Size)
	}
	OpenAt(l, &s.c, unix.AT_FDCWD, dir+"/sym", unix.O_RDONLY|unix.O_NOFOLLOW, 0, s, (*allocState).onCount)
	check("O_NOFOLLOW on a symlink", syscall.ELOOP)
	Renameat(l, &s.c, unix.AT_FDCWD, dir+"/link", dirFD, "f", RenameNoReplace, s, (*allocState).onErr)
	check("Renameat RenameNoReplace", syscall.EEXIST)
	Renameat(l, &s.c, unix.AT_FDCWD, dir+"/link", dirFD, "g", RenameNoReplace, s, (*allocState).onErr)
	check("Renameat", 0)
	Renameat(l, &s.c, dirFD, "g", dirFD, "f", RenameExchange, s, (*allocState).onErr)
	check("Renameat RenameExchange", 0)
	Unlinkat(l, &s.c, unix.AT_FDCWD, dir+"/d", 0, s, (*allocState).onErr)
	check("Unlinkat of a directory", syscall.EISDIR)
	Unlinkat(l, &s.c, unix.AT_FDCWD, dir+"/d", unix.AT_REMOVEDIR, s, (*allocState).onErr)
	check("Unlinkat AT_REMOVEDIR of a non-empty directory", syscall.ENOTEMPTY)
	Unlinkat(l, &s.c, dirFD, "g", 0, s, (*allocState).onErr)
	check("Unlinkat", 0)
	Fallocate(l, &s.c, fd, 0, 0, 1<<20, s, (*allocState).onErr)
	check("Fallocate", 0)
	Fallocate(l, &s.c, fd, unix.FALLOC_FL_PUNCH_HOLE, 0, 4096, s, (*allocState).onErr)
	check("Fallocate PUNCH_HOLE without KEEP_SIZE", syscall.EOPNOTSUPP)
	Ftruncate(l, &s.c, fd, 3, s, (*allocState).onErr)
	check("Ftruncate", 0)
	Fadvise(l, &s.c, fd, 0, 0, unix.FADV_SEQUENTIAL, s, (*allocState).onErr)
	check("Fadvise", 0)
	SyncFileRange(l, &s.c, fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE, s, (*allocState).onErr)
	check("SyncFileRange", 0)
	SyncFileRange(l, &s.c, fd, 0, 0, 0x100, s, (*allocState).onErr)
	check("SyncFileRange with bad flags", syscall.EINVAL)
	wantFile(t, l, dir+"/d/f", []byte("dur"))
	if !node.Exists(dir + "/sym") {
		t.Fatal("the symlink is gone")
	}
	for _, d := range []int{fd, dirFD} {
		Close(l, &s.c, d, s, (*allocState).onErr)
		check("Close", 0)
	}
}

func TestSimAllocsFileOps(t *testing.T) {
	l := newSimFileLoop(t)
	dir := tempDir(t, l)
	path, fd := tempFile(t, l, pattern(8192, 3))
	node := simOf(l).node
	dirFD, errno := node.Open(dir, simOpenFlags(unix.O_RDONLY|unix.O_DIRECTORY))
	if errno != 0 {
		t.Fatal(errno)
	}
	buf := make([]byte, 512)
	for _, tc := range []struct {
		name string
		run  func(s *allocState)
		ops  int
	}{
		{"WriteDurable", func(s *allocState) {
			WriteDurable(l, &s.c, fd, buf, 512, DataSync, s, (*allocState).onCount)
		}, 1},
		{"Fallocate", func(s *allocState) {
			Fallocate(l, &s.c, fd, unix.FALLOC_FL_KEEP_SIZE, 0, 1<<20, s, (*allocState).onErr)
		}, 1},
		{"Fallocate punch", func(s *allocState) {
			Fallocate(l, &s.c, fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 4096, 4096, s, (*allocState).onErr)
		}, 1},
		{"Ftruncate", func(s *allocState) { Ftruncate(l, &s.c, fd, 8192, s, (*allocState).onErr) }, 1},
		{"Fadvise", func(s *allocState) { Fadvise(l, &s.c, fd, 0, 0, unix.FADV_WILLNEED, s, (*allocState).onErr) }, 1},
		{"SyncFileRange", func(s *allocState) {
			SyncFileRange(l, &s.c, fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE, s, (*allocState).onErr)
		}, 1},
		{"Renameat there and back", func(s *allocState) {
			// In order: the simulated disk, like a real one, may finish
			// two operations in flight in either order.
			Renameat(l, &s.c, unix.AT_FDCWD, path, dirFD, "renamed", 0, s, (*allocState).onErr)
			s.wait(1)
			Renameat(l, &s.c2, dirFD, "renamed", unix.AT_FDCWD, path, 0, s, (*allocState).onErr)
		}, 1},
		{"Linkat and Unlinkat", func(s *allocState) {
			Linkat(l, &s.c, unix.AT_FDCWD, path, dirFD, "linked", 0, s, (*allocState).onErr)
			s.wait(1)
			Unlinkat(l, &s.c2, dirFD, "linked", 0, s, (*allocState).onErr)
		}, 1},
		{"Fsync of a directory", func(s *allocState) { Fsync(l, &s.c, dirFD, s, (*allocState).onErr) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &allocState{loop: l}
			wantNoAllocs(t, s, 200, func() {
				tc.run(s)
				s.wait(tc.ops)
			})
		})
	}
}
