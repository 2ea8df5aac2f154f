package simcore

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Tests of the namespace (fs.go) and the file operations storage engines
// use, each checked against what Linux 6.x returns, and of what a crash
// does to them.

// errno runs req and returns its result as an errno (0: success; a
// descriptor or count counts as success).
func (r *rig) errno(req Request) syscall.Errno {
	r.t.Helper()
	if res := r.do(req); res < 0 {
		return syscall.Errno(-res)
	}
	return 0
}

func (r *rig) mkdir(path string) syscall.Errno {
	return r.errno(Request{Kind: KindMkdirat, FD: AtCWD, Path: []byte(path), Mode: 0o755})
}

func (r *rig) rename(from, to string, flags uint32) syscall.Errno {
	return r.errno(Request{Kind: KindRenameat, FD: AtCWD, Path: []byte(from), FD2: AtCWD, Path2: []byte(to), Flags: flags})
}

func (r *rig) unlink(path string, flags uint32) syscall.Errno {
	return r.errno(Request{Kind: KindUnlinkat, FD: AtCWD, Path: []byte(path), Flags: flags})
}

func (r *rig) link(from, to string, flags uint32) syscall.Errno {
	return r.errno(Request{Kind: KindLinkat, FD: AtCWD, Path: []byte(from), FD2: AtCWD, Path2: []byte(to), Flags: flags})
}

func (r *rig) symlink(target, path string) syscall.Errno {
	return r.errno(Request{Kind: KindSymlinkat, FD: -1, Path: []byte(target), FD2: AtCWD, Path2: []byte(path)})
}

// openErr is OpenAt's errno (a descriptor it opens is closed).
func (r *rig) openErr(dirFD int, path string, flags uint32) syscall.Errno {
	r.t.Helper()
	res := r.do(Request{Kind: KindOpenAt, FD: dirFD, Path: []byte(path), Flags: flags, Mode: 0o644})
	if res < 0 {
		return syscall.Errno(-res)
	}
	r.do(Request{Kind: KindClose, FD: int(res)})
	return 0
}

// create makes a file holding content (not synced).
func (r *rig) create(path, content string) {
	r.t.Helper()
	fd := r.open(path, OpenWrite|OpenCreate|OpenTruncate)
	if content != "" {
		r.write(fd, []byte(content), 0)
	}
	r.do(Request{Kind: KindClose, FD: fd})
}

// stat returns Statx of path (flags StatNoFollow or 0).
func (r *rig) stat(path string, flags uint32) (Stat, syscall.Errno) {
	r.t.Helper()
	res := r.do(Request{Kind: KindStatx, FD: AtCWD, Path: []byte(path), Flags: flags})
	token := uint64(1)<<32 | r.token // do's
	st := r.host.stats[token]
	delete(r.host.stats, token)
	if res < 0 {
		return Stat{}, syscall.Errno(-res)
	}
	return st, 0
}

func (r *rig) content(path string) (string, bool) {
	data, ok := r.n.ReadFile(path)
	return string(data), ok
}

func want(t *testing.T, what string, got, want syscall.Errno) {
	t.Helper()
	if got != want {
		t.Errorf("%s: %v, want %v", what, errName(got), errName(want))
	}
}

func errName(e syscall.Errno) string {
	if e == 0 {
		return "success"
	}
	return e.Error()
}

func TestDirectories(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	want(t, "mkdir /d", r.mkdir("/d"), 0)
	want(t, "mkdir /d again", r.mkdir("/d"), syscall.EEXIST)
	want(t, "mkdir /", r.mkdir("/"), syscall.EEXIST)
	want(t, "mkdir /d/.", r.mkdir("/d/."), syscall.EEXIST)
	want(t, "mkdir with a missing parent", r.mkdir("/no/d"), syscall.ENOENT)
	want(t, "mkdir with a trailing slash", r.mkdir("/d/e/"), 0)
	r.create("/f", "x")
	want(t, "mkdir under a file", r.mkdir("/f/d"), syscall.ENOTDIR)
	want(t, "create under a file", r.openErr(AtCWD, "/f/g", OpenWrite|OpenCreate), syscall.ENOTDIR)
	want(t, "create with a missing parent", r.openErr(AtCWD, "/no/g", OpenWrite|OpenCreate), syscall.ENOENT)
	want(t, "create with a trailing slash", r.openErr(AtCWD, "/g/", OpenWrite|OpenCreate), syscall.EISDIR)
	want(t, "O_CREAT of an existing file with a trailing slash", r.openErr(AtCWD, "/f/", OpenWrite|OpenCreate), syscall.EISDIR)
	want(t, "open a file with a trailing slash", r.openErr(AtCWD, "/f/", OpenRead), syscall.ENOTDIR)
	want(t, "O_DIRECTORY on a file", r.openErr(AtCWD, "/f", OpenRead|OpenDirectory), syscall.ENOTDIR)
	want(t, "O_DIRECTORY|O_CREAT", r.openErr(AtCWD, "/d", OpenRead|OpenDirectory|OpenCreate), syscall.EINVAL)
	want(t, "a directory for writing", r.openErr(AtCWD, "/d", OpenRead|OpenWrite), syscall.EISDIR)
	want(t, "O_CREAT of a directory", r.openErr(AtCWD, "/d", OpenRead|OpenCreate), syscall.EISDIR)
	want(t, "a directory read-only", r.openErr(AtCWD, "/d", OpenRead), 0)
	want(t, "/ with O_DIRECTORY", r.openErr(AtCWD, "/", OpenRead|OpenDirectory), 0)
	want(t, "/tmp exists", r.openErr(AtCWD, "/tmp", OpenRead|OpenDirectory), 0)
	want(t, "/dev/shm exists", r.openErr(AtCWD, "/dev/shm", OpenRead|OpenDirectory), 0)
	want(t, "dot-dot", r.openErr(AtCWD, "/d/e/../../f", OpenRead), 0)
	want(t, "dot-dot above the root", r.openErr(AtCWD, "/../../f", OpenRead), 0)

	// A directory descriptor is a dirfd for every *at operation.
	dir := r.open("/d", OpenRead|OpenDirectory)
	fd := r.do(Request{Kind: KindOpenAt, FD: dir, Path: []byte("rel"), Flags: OpenWrite | OpenCreate, Mode: 0o600})
	if fd < 0 {
		t.Fatalf("OpenAt relative to a directory: %v", syscall.Errno(-fd))
	}
	r.write(int(fd), []byte("relative"), 0)
	if got, _ := r.content("/d/rel"); got != "relative" {
		t.Fatalf("/d/rel = %q", got)
	}
	want(t, "Mkdirat relative", r.errno(Request{Kind: KindMkdirat, FD: dir, Path: []byte("sub"), Mode: 0o700}), 0)
	want(t, "Renameat relative", r.errno(Request{Kind: KindRenameat, FD: dir, Path: []byte("rel"), FD2: dir, Path2: []byte("sub/moved")}), 0)
	want(t, "Linkat relative", r.errno(Request{Kind: KindLinkat, FD: dir, Path: []byte("sub/moved"), FD2: AtCWD, Path2: []byte("/linked")}), 0)
	want(t, "Symlinkat relative", r.errno(Request{Kind: KindSymlinkat, FD: -1, Path: []byte("sub/moved"), FD2: dir, Path2: []byte("sym")}), 0)
	if got, _ := r.content("/d/sym"); got != "relative" {
		t.Fatalf("through a relative symlink: %q", got)
	}
	want(t, "Unlinkat relative", r.errno(Request{Kind: KindUnlinkat, FD: dir, Path: []byte("sym")}), 0)
	want(t, "read of a directory", r.errno(Request{Kind: KindRead, FD: dir, Buf: make([]byte, 8), Offset: 0}), syscall.EISDIR)
	want(t, "write of a directory", r.errno(Request{Kind: KindWrite, FD: dir, Buf: make([]byte, 8), Offset: 0}), syscall.EBADF)
	want(t, "fsync of a directory", r.errno(Request{Kind: KindFsync, FD: dir}), 0)
	want(t, "fdatasync of a directory", r.errno(Request{Kind: KindFsync, FD: dir, Flags: FsyncData}), 0)
	file := r.open("/f", OpenRead)
	want(t, "a file as dirfd", r.openErr(file, "x", OpenRead), syscall.ENOTDIR)
	want(t, "a bad dirfd", r.openErr(99, "x", OpenRead), syscall.EBADF)
	want(t, "a bad dirfd before a missing path", r.mkdir(""), syscall.ENOENT)
	want(t, "an absolute path ignores a bad dirfd", r.openErr(99, "/f", OpenRead), 0)
	want(t, "mkdir with a bad dirfd", r.errno(Request{Kind: KindMkdirat, FD: 99, Path: []byte("x")}), syscall.EBADF)
	want(t, "a long component", r.mkdir("/"+strings.Repeat("n", 256)), syscall.ENAMETOOLONG)
	want(t, "a long path", r.mkdir("/"+strings.Repeat("a/", 2048)), syscall.ENAMETOOLONG)

	st, errno := r.stat("/d", 0)
	if errno != 0 || st.Mode&syscall.S_IFMT != syscall.S_IFDIR || st.Mode&0o777 != 0o755 || !st.IsDirectory || st.Nlink != 4 {
		t.Fatalf("Statx /d: %+v %v (want a directory 0755 with nlink 4: ., its entry, e/.., sub/..)", st, errno)
	}
}

func TestUnlinkAndRmdir(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	r.mkdir("/d")
	r.create("/d/f", "x")
	r.create("/f", "y")
	want(t, "unlink a directory", r.unlink("/d", 0), syscall.EISDIR)
	want(t, "rmdir a non-empty directory", r.unlink("/d", UnlinkRemoveDir), syscall.ENOTEMPTY)
	want(t, "rmdir a file", r.unlink("/f", UnlinkRemoveDir), syscall.ENOTDIR)
	want(t, "rmdir /", r.unlink("/", UnlinkRemoveDir), syscall.EBUSY)
	want(t, "rmdir .", r.unlink("/d/.", UnlinkRemoveDir), syscall.EINVAL)
	want(t, "rmdir ..", r.unlink("/d/..", UnlinkRemoveDir), syscall.ENOTEMPTY)
	want(t, "rmdir a mount point", r.unlink("/dev/shm", UnlinkRemoveDir), syscall.EBUSY)
	want(t, "unlink a missing file", r.unlink("/missing", 0), syscall.ENOENT)
	want(t, "unlink with a missing parent", r.unlink("/no/f", 0), syscall.ENOENT)
	want(t, "unlink a file with a trailing slash", r.unlink("/f/", 0), syscall.ENOTDIR)
	want(t, "unknown flags", r.unlink("/f", 4), syscall.EINVAL)

	// An open file outlives its name.
	fd := r.open("/d/f", OpenRead)
	want(t, "unlink", r.unlink("/d/f", 0), 0)
	if got := r.readAt(fd, 1, 0); string(got) != "x" {
		t.Fatalf("read of an unlinked open file: %q", got)
	}
	want(t, "open after unlink", r.openErr(AtCWD, "/d/f", OpenRead), syscall.ENOENT)
	dir := r.open("/d", OpenRead|OpenDirectory)
	want(t, "rmdir an empty directory", r.unlink("/d", UnlinkRemoveDir), 0)
	want(t, "rmdir again", r.unlink("/d", UnlinkRemoveDir), syscall.ENOENT)
	want(t, "create in a removed directory", r.openErr(dir, "new", OpenWrite|OpenCreate), syscall.ENOENT)
}

func TestLinks(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	r.create("/f", "data")
	r.mkdir("/d")
	want(t, "link", r.link("/f", "/d/g", 0), 0)
	st, _ := r.stat("/f", 0)
	if st.Nlink != 2 {
		t.Fatalf("nlink after link = %d, want 2", st.Nlink)
	}
	if got, _ := r.content("/d/g"); got != "data" {
		t.Fatalf("through the link: %q", got)
	}
	want(t, "link over an existing name", r.link("/f", "/d/g", 0), syscall.EEXIST)
	want(t, "link a directory", r.link("/d", "/d2", 0), syscall.EPERM)
	want(t, "link a missing file", r.link("/missing", "/x", 0), syscall.ENOENT)
	want(t, "link into /dev/shm", r.link("/f", "/dev/shm/f", 0), syscall.EXDEV)
	want(t, "link, bad flags", r.link("/f", "/x", 2), syscall.EINVAL)
	want(t, "unlink one name", r.unlink("/f", 0), 0)
	if st, _ = r.stat("/d/g", 0); st.Nlink != 1 {
		t.Fatalf("nlink after unlinking one name = %d, want 1", st.Nlink)
	}

	// AT_SYMLINK_FOLLOW: link the symlink itself, or what it names.
	r.symlink("/d/g", "/s")
	want(t, "link a symlink", r.link("/s", "/s2", 0), 0)
	want(t, "link what a symlink names", r.link("/s", "/g2", LinkFollow), 0)
	if st, _ := r.stat("/s2", StatNoFollow); st.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		t.Fatalf("link of a symlink without AT_SYMLINK_FOLLOW: mode %#o", st.Mode)
	}
	if st, _ := r.stat("/g2", StatNoFollow); st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Nlink != 2 {
		t.Fatalf("link with AT_SYMLINK_FOLLOW: mode %#o nlink %d", st.Mode, st.Nlink)
	}
}

func TestSymlinks(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	r.mkdir("/d")
	r.create("/d/f", "target")
	want(t, "symlink", r.symlink("f", "/d/rel"), 0)
	want(t, "symlink absolute", r.symlink("/d", "/abs"), 0)
	if got, _ := r.content("/abs/rel"); got != "target" {
		t.Fatalf("through two symlinks: %q", got)
	}
	want(t, "symlink over a name", r.symlink("x", "/d/f"), syscall.EEXIST)
	want(t, "an empty target", r.symlink("", "/e"), syscall.ENOENT)
	want(t, "O_NOFOLLOW on a symlink", r.openErr(AtCWD, "/d/rel", OpenRead|OpenNoFollow), syscall.ELOOP)
	want(t, "O_NOFOLLOW on a directory symlink before the end", r.openErr(AtCWD, "/abs/f", OpenRead|OpenNoFollow), 0)
	st, errno := r.stat("/d/rel", StatNoFollow)
	if errno != 0 || st.Mode&syscall.S_IFMT != syscall.S_IFLNK || st.SizeBytes != 1 {
		t.Fatalf("Statx AT_SYMLINK_NOFOLLOW: %+v %v", st, errno)
	}
	if st, _ := r.stat("/d/rel", 0); st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.SizeBytes != 6 {
		t.Fatalf("Statx through a symlink: %+v", st)
	}
	if target, _ := r.n.Readlink("/d/rel"); target != "f" {
		t.Fatalf("Readlink = %q", target)
	}

	// A dangling symlink: O_CREAT creates its target, O_EXCL refuses.
	r.symlink("/d/new", "/dangling")
	want(t, "open a dangling symlink", r.openErr(AtCWD, "/dangling", OpenRead), syscall.ENOENT)
	want(t, "O_CREAT|O_EXCL on a symlink", r.openErr(AtCWD, "/dangling", OpenWrite|OpenCreate|OpenExclusive), syscall.EEXIST)
	want(t, "O_CREAT through a dangling symlink", r.openErr(AtCWD, "/dangling", OpenWrite|OpenCreate), 0)
	if !r.n.Exists("/d/new") {
		t.Fatal("O_CREAT through a dangling symlink did not create its target")
	}

	// Loops: 40 symlinks are followed, the 41st is ELOOP.
	r.symlink("loop", "/loop")
	want(t, "a symlink to itself", r.openErr(AtCWD, "/loop", OpenRead), syscall.ELOOP)
	r.create("/c0", "end")
	for i := 1; i <= 41; i++ {
		r.symlink(fmt.Sprintf("c%d", i-1), fmt.Sprintf("/c%d", i))
	}
	want(t, "40 symlinks", r.openErr(AtCWD, "/c40", OpenRead), 0)
	want(t, "41 symlinks", r.openErr(AtCWD, "/c41", OpenRead), syscall.ELOOP)
	want(t, "unlink removes the symlink, not its target", r.unlink("/d/rel", 0), 0)
	if !r.n.Exists("/d/f") {
		t.Fatal("unlink of a symlink removed its target")
	}
}

func TestRename(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	r.mkdir("/a")
	r.mkdir("/a/sub")
	r.mkdir("/b")
	r.mkdir("/empty")
	r.create("/f", "F")
	r.create("/g", "G")
	r.create("/b/x", "X")
	for _, tc := range []struct {
		what     string
		from, to string
		flags    uint32
		want     syscall.Errno
	}{
		{"both flags", "/f", "/h", RenameNoReplace | RenameExchange, syscall.EINVAL},
		{"unknown flag", "/f", "/h", 4, syscall.EINVAL},
		{"a missing source", "/missing", "/h", 0, syscall.ENOENT},
		{"a missing target directory", "/f", "/no/h", 0, syscall.ENOENT},
		{"NOREPLACE over a file", "/f", "/g", RenameNoReplace, syscall.EEXIST},
		{"EXCHANGE with nothing", "/f", "/h", RenameExchange, syscall.ENOENT},
		{"a file over a directory", "/f", "/empty", 0, syscall.EISDIR},
		{"a directory over a file", "/empty", "/f", 0, syscall.ENOTDIR},
		{"a directory over a non-empty one", "/empty", "/b", 0, syscall.ENOTEMPTY},
		{"a directory into its own subtree", "/a", "/a/sub/a", 0, syscall.EINVAL},
		{"a directory onto its own child", "/a", "/a/sub", 0, syscall.EINVAL},
		{"an ancestor over a directory", "/a/sub", "/a", 0, syscall.ENOTEMPTY},
		{"to /dev/shm", "/f", "/dev/shm/f", 0, syscall.EXDEV},
		{"from /dev/shm, missing", "/dev/shm/missing", "/f", 0, syscall.EXDEV},
		{"the root", "/", "/r", 0, syscall.EBUSY},
		{"a mount point", "/dev/shm", "/shm", 0, syscall.EBUSY},
		{"dot", "/a/.", "/r", 0, syscall.EBUSY},
		{"a file with a trailing slash", "/f/", "/h", 0, syscall.ENOTDIR},
	} {
		want(t, "rename "+tc.what, r.rename(tc.from, tc.to, tc.flags), tc.want)
	}
	if got, _ := r.content("/f"); got != "F" {
		t.Fatalf("failed renames changed /f: %q", got)
	}

	want(t, "rename over a file", r.rename("/f", "/g", 0), 0)
	if got, _ := r.content("/g"); got != "F" || r.n.Exists("/f") {
		t.Fatalf("after rename over: /g %q, /f exists %v", got, r.n.Exists("/f"))
	}
	want(t, "rename across directories", r.rename("/g", "/a/g", RenameNoReplace), 0)
	want(t, "exchange", r.rename("/a/g", "/b/x", RenameExchange), 0)
	if a, _ := r.content("/a/g"); a != "X" {
		t.Fatalf("after exchange /a/g = %q", a)
	}
	if b, _ := r.content("/b/x"); b != "F" {
		t.Fatalf("after exchange /b/x = %q", b)
	}
	want(t, "exchange a file and a directory", r.rename("/a/g", "/empty", RenameExchange), 0)
	if st, _ := r.stat("/a/g", 0); !st.IsDirectory {
		t.Fatal("exchange of a file and a directory did not swap them")
	}
	want(t, "exchange back", r.rename("/a/g", "/empty", RenameExchange), 0)
	want(t, "a directory over an empty one", r.rename("/a/sub", "/empty", 0), 0)
	if st, _ := r.stat("/a", 0); st.Nlink != 2 {
		t.Fatalf("/a has nlink %d after its subdirectory moved, want 2", st.Nlink)
	}
	r.link("/b/x", "/b/y", 0)
	want(t, "two names of one inode", r.rename("/b/x", "/b/y", 0), 0)
	if !r.n.Exists("/b/x") || !r.n.Exists("/b/y") {
		t.Fatal("rename between two names of one inode must do nothing")
	}
	want(t, "a directory to a name with a trailing slash", r.rename("/empty/", "/moved/", 0), 0)
}

func TestFallocateAndFtruncate(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	fd := r.open("/f", OpenRead|OpenWrite|OpenCreate)
	falloc := func(fd int, mode uint32, offset, length int64) syscall.Errno {
		return r.errno(Request{Kind: KindFallocate, FD: fd, Mode: mode, Offset: offset, Length: length})
	}
	want(t, "allocate", falloc(fd, 0, 0, 8192), 0)
	if size, blocks := r.statSize(fd); size != 8192 || blocks != 16 {
		t.Fatalf("after fallocate(0, 8192): size %d blocks %d, want 8192 and 16", size, blocks)
	}
	want(t, "KEEP_SIZE", falloc(fd, FallocKeepSize, 8192, 1<<20), 0)
	if size, blocks := r.statSize(fd); size != 8192 || blocks != (8192+1<<20)/512 {
		t.Fatalf("after KEEP_SIZE: size %d blocks %d", size, blocks)
	}
	r.write(fd, bytes.Repeat([]byte{'x'}, 3*4096), 0)
	want(t, "PUNCH_HOLE without KEEP_SIZE", falloc(fd, FallocPunchHole, 0, 4096), syscall.EOPNOTSUPP)
	want(t, "PUNCH_HOLE", falloc(fd, FallocPunchHole|FallocKeepSize, 100, 4096+100), 0)
	got := r.readAt(fd, 3*4096, 0)
	if bytes.Count(got[:100], []byte{'x'}) != 100 || bytes.Count(got[100:4296], []byte{0}) != 4196 || got[4296] != 'x' {
		t.Fatal("PUNCH_HOLE did not zero exactly its range")
	}
	want(t, "ZERO_RANGE", falloc(fd, FallocZeroRange, 8192, 8192), 0)
	if size, _ := r.statSize(fd); size != 16384 {
		t.Fatalf("ZERO_RANGE past the end: size %d, want 16384", size)
	}
	if got := r.readAt(fd, 4096, 8192); bytes.Count(got, []byte{0}) != 4096 {
		t.Fatal("ZERO_RANGE did not zero")
	}
	want(t, "COLLAPSE_RANGE (not simulated)", falloc(fd, 0x08, 0, 4096), syscall.EOPNOTSUPP)
	want(t, "an unknown mode bit", falloc(fd, 0x1000, 0, 4096), syscall.EOPNOTSUPP)
	want(t, "PUNCH|ZERO", falloc(fd, FallocPunchHole|FallocZeroRange|FallocKeepSize, 0, 4096), syscall.EOPNOTSUPP)
	want(t, "a zero length", falloc(fd, 0, 0, 0), syscall.EINVAL)
	want(t, "past the size limit", falloc(fd, 0, maxFileBytes, 1), syscall.EFBIG)
	want(t, "a bad fd", falloc(99, 0, 0, 1), syscall.EBADF)
	ro := r.open("/f", OpenRead)
	want(t, "read-only", falloc(ro, 0, 0, 1), syscall.EBADF)
	want(t, "an invalid mode before read-only", falloc(ro, FallocPunchHole|FallocZeroRange|FallocKeepSize, 0, 1), syscall.EOPNOTSUPP)
	want(t, "read-only before a mode not simulated", falloc(ro, 0x08, 0, 1), syscall.EBADF)
	want(t, "a socket", falloc(r.n.Socket(), 0, 0, 1), syscall.ENODEV)
	shm := r.open("/dev/shm/f", OpenRead|OpenWrite|OpenCreate)
	want(t, "ZERO_RANGE on tmpfs", falloc(shm, FallocZeroRange, 0, 1), syscall.EOPNOTSUPP)
	want(t, "a directory", falloc(r.open("/", OpenRead|OpenDirectory), 0, 0, 1), syscall.EBADF)
	want(t, "PUNCH_HOLE on tmpfs", falloc(shm, FallocPunchHole|FallocKeepSize, 0, 1), 0)

	trunc := func(fd int, length int64) syscall.Errno {
		return r.errno(Request{Kind: KindFtruncate, FD: fd, Length: length})
	}
	want(t, "shrink", trunc(fd, 10), 0)
	if size, blocks := r.statSize(fd); size != 10 || blocks != 8 {
		t.Fatalf("after ftruncate(10): size %d blocks %d (the KEEP_SIZE allocation past the end goes too)", size, blocks)
	}
	want(t, "grow", trunc(fd, 5000), 0)
	if got := r.readAt(fd, 5000, 0); !bytes.Equal(got, append(bytes.Repeat([]byte{'x'}, 10), make([]byte, 4990)...)) {
		t.Fatal("a file grown by ftruncate must read as zeros past the old end")
	}
	want(t, "read-only", trunc(ro, 1), syscall.EINVAL)
	want(t, "a socket", trunc(r.n.Socket(), 1), syscall.EINVAL)
	want(t, "a bad fd", trunc(99, 1), syscall.EBADF)
	want(t, "too big", trunc(fd, maxFileBytes+1), syscall.EFBIG)
	dir := r.open("/", OpenRead|OpenDirectory)
	want(t, "a directory", trunc(dir, 1), syscall.EINVAL)
}

func TestFadviseAndSyncFileRange(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	fd := r.open("/f", OpenRead|OpenWrite|OpenCreate)
	fadvise := func(fd int, advice uint32) syscall.Errno {
		return r.errno(Request{Kind: KindFadvise, FD: fd, Flags: advice})
	}
	want(t, "fadvise", fadvise(fd, 2), 0)
	want(t, "fadvise, bad advice", fadvise(fd, 6), syscall.EINVAL)
	want(t, "fadvise, bad fd", fadvise(99, 2), syscall.EBADF)
	want(t, "fadvise on a socket", fadvise(r.n.Socket(), 2), 0)
	sfr := func(fd int, flags uint32, offset, length int64) syscall.Errno {
		return r.errno(Request{Kind: KindSyncFileRange, FD: fd, Flags: flags, Offset: offset, Length: length})
	}
	want(t, "sync_file_range", sfr(fd, 7, 0, 0), 0)
	want(t, "sync_file_range, a bad fd before bad flags", sfr(99, 8, 0, 0), syscall.EBADF)
	want(t, "sync_file_range, bad flags", sfr(fd, 8, 0, 0), syscall.EINVAL)
	want(t, "sync_file_range, bad fd", sfr(99, 2, 0, 0), syscall.EBADF)
	want(t, "sync_file_range, an overflowing range", sfr(fd, 2, 1<<62, 1<<62+1<<61+1<<60), syscall.EINVAL)
	want(t, "sync_file_range on a socket", sfr(r.n.Socket(), 2, 0, 0), syscall.ESPIPE)
}

// TestDurableWriteSurvivesCrash: a WriteDurable's range and size survive
// every crash without an Fsync; a plain write beside it may not.
func TestDurableWriteSurvivesCrash(t *testing.T) {
	var plainLost int
	for seed := uint64(1); seed <= 100; seed++ {
		r := newRig(t, Config{Seed: seed})
		fd := r.open("/f", OpenRead|OpenWrite|OpenCreate)
		r.syncDir("/")
		r.write(fd, bytes.Repeat([]byte{'p'}, 4096), 0)
		for i, flags := range []uint32{WriteDataSync, WriteFileSync} {
			if res := r.do(Request{Kind: KindWrite, FD: fd, Buf: bytes.Repeat([]byte{'d'}, 4096), Offset: int64(4096 * (i + 1)), Flags: flags}); res != 4096 {
				t.Fatalf("durable write: %d", res)
			}
		}
		r.crash()
		got, ok := r.content("/f")
		if !ok || len(got) != 3*4096 || strings.Count(got[4096:], "d") != 2*4096 {
			t.Fatalf("seed %d: durable writes lost by a crash: %d bytes", seed, len(got))
		}
		if strings.Count(got[:4096], "p") == 0 {
			plainLost++
		}
	}
	if plainLost == 0 {
		t.Fatal("the plain write beside the durable ones always survived: it must not be made durable")
	}

	r := newRig(t, Config{Seed: 1})
	fd := r.open("/f", OpenRead|OpenWrite|OpenCreate)
	r.w.cfg.Faults.FsyncError = 1
	if res := r.do(Request{Kind: KindWrite, FD: fd, Buf: []byte("x"), Offset: 0, Flags: WriteDataSync}); res != -int32(syscall.EIO) {
		t.Fatalf("durable write whose flush fails: %d, want -EIO", res)
	}
}

// outcomes counts, over seeds, the distinct results of a scenario.
type outcomes map[string]int

func (o outcomes) String() string {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %d; ", k, o[k])
	}
	return b.String()
}

// state describes names as "name=content" (or "name: missing").
func (r *rig) state(paths ...string) string {
	var parts []string
	for _, p := range paths {
		if got, ok := r.content(p); ok {
			parts = append(parts, p+"="+got)
		} else {
			parts = append(parts, p+" missing")
		}
	}
	return strings.Join(parts, ", ")
}

func seeds(t *testing.T, count int, scenario func(r *rig) string) outcomes {
	t.Helper()
	o := outcomes{}
	for seed := uint64(1); seed <= uint64(count); seed++ {
		o[scenario(newRig(t, Config{Seed: seed}))]++
	}
	return o
}

// TestCrashRenameWithoutDirSync: a rename over an old file, not synced,
// survives or is undone, atomically: the final name holds the old
// contents or the new, never neither, and the temporary name holds the
// new contents exactly when the final does not.
func TestCrashRenameWithoutDirSync(t *testing.T) {
	o := seeds(t, 100, func(r *rig) string {
		r.n.WriteFile("/final", []byte("old"))
		fd := r.open("/tmp/t", OpenWrite|OpenCreate)
		r.write(fd, []byte("new"), 0)
		r.do(Request{Kind: KindFsync, FD: fd})
		r.syncDir("/")
		r.syncDir("/tmp")
		r.rename("/tmp/t", "/final", 0)
		r.crash()
		return r.state("/final", "/tmp/t")
	})
	t.Log(o)
	for k := range o {
		if k != "/final=old, /tmp/t=new" && k != "/final=new, /tmp/t missing" {
			t.Fatalf("impossible state after a crash: %s", k)
		}
	}
	if len(o) != 2 {
		t.Fatalf("a rename without its directories synced must be kept on some seeds and undone on others: %v", o)
	}
}

func TestCrashRenameAfterDirSyncSurvives(t *testing.T) {
	o := seeds(t, 100, func(r *rig) string {
		r.n.WriteFile("/final", []byte("old"))
		fd := r.open("/tmp/t", OpenWrite|OpenCreate)
		r.write(fd, []byte("new"), 0)
		r.do(Request{Kind: KindFsync, FD: fd})
		r.rename("/tmp/t", "/final", 0)
		r.syncDir("/")
		r.syncDir("/tmp")
		r.crash()
		return r.state("/final", "/tmp/t")
	})
	if len(o) != 1 || o["/final=new, /tmp/t missing"] != 100 {
		t.Fatalf("a rename whose directories were synced must survive every crash: %v", o)
	}
}

// TestCrashCrossDirectoryRenameIsAtomic: a rename from /a to /b is one
// change of two directories. Unsynced, a crash keeps it or undoes it
// whole; the Fsync of either directory makes it durable in both (the
// model's choice, see fs.go: as a journal commits it in one transaction).
func TestCrashCrossDirectoryRenameIsAtomic(t *testing.T) {
	for _, sync := range []string{"", "/a", "/b"} {
		o := seeds(t, 100, func(r *rig) string {
			r.n.MkdirAll("/a")
			r.n.MkdirAll("/b")
			r.n.WriteFile("/a/f", []byte("f"))
			r.rename("/a/f", "/b/f", 0)
			if sync != "" {
				r.syncDir(sync)
			}
			r.crash()
			return r.state("/a/f", "/b/f")
		})
		for k := range o {
			if k != "/a/f=f, /b/f missing" && k != "/a/f missing, /b/f=f" {
				t.Fatalf("syncing %q: impossible state %s", sync, k)
			}
		}
		if sync == "" && len(o) != 2 {
			t.Fatalf("no sync: want both outcomes, got %v", o)
		}
		if sync != "" && o["/a/f missing, /b/f=f"] != 100 {
			t.Fatalf("syncing %s: %v", sync, o)
		}
	}
}

func TestCrashCreatedFileMayVanish(t *testing.T) {
	o := seeds(t, 100, func(r *rig) string {
		fd := r.open("/tmp/f", OpenWrite|OpenCreate)
		r.write(fd, []byte("synced"), 0)
		r.do(Request{Kind: KindFsync, FD: fd}) // the data, not the name
		r.crash()
		return r.state("/tmp/f")
	})
	if len(o) != 2 || o["/tmp/f=synced"] == 0 || o["/tmp/f missing"] == 0 {
		t.Fatalf("a synced file whose directory was not synced must survive some crashes and vanish in others: %v", o)
	}
	o = seeds(t, 100, func(r *rig) string {
		fd := r.open("/tmp/f", OpenWrite|OpenCreate)
		r.write(fd, []byte("synced"), 0)
		r.do(Request{Kind: KindFsync, FD: fd})
		r.syncDir("/tmp")
		r.crash()
		return r.state("/tmp/f")
	})
	if o["/tmp/f=synced"] != 100 {
		t.Fatalf("file and directory synced: %v", o)
	}
	// A directory whose own entry was never synced takes its files along.
	o = seeds(t, 100, func(r *rig) string {
		r.mkdir("/d")
		fd := r.open("/d/f", OpenWrite|OpenCreate)
		r.write(fd, []byte("x"), 0)
		r.do(Request{Kind: KindFsync, FD: fd})
		r.syncDir("/d")
		r.crash()
		return r.state("/d/f")
	})
	if len(o) != 2 {
		t.Fatalf("/d synced but / not: /d/f must vanish with /d on some seeds: %v", o)
	}
}

// TestCrashKeepsAPrefixPerDirectory: the changes of one directory
// survive as a prefix of the order they happened in.
func TestCrashKeepsAPrefixPerDirectory(t *testing.T) {
	o := seeds(t, 200, func(r *rig) string {
		r.n.MkdirAll("/d")
		for _, name := range []string{"a", "b", "c"} {
			r.create("/d/"+name, name)
		}
		r.unlink("/d/a", 0)
		r.crash()
		var names []string
		for _, name := range []string{"a", "b", "c"} {
			if r.n.Exists("/d/" + name) {
				names = append(names, name)
			}
		}
		return strings.Join(names, "")
	})
	t.Log(o)
	// create a, create b, create c, unlink a.
	for k := range o {
		if k != "" && k != "a" && k != "ab" && k != "abc" && k != "bc" {
			t.Fatalf("/d holds %q after a crash: not a prefix of its history", k)
		}
	}
	if len(o) != 5 {
		t.Fatalf("200 seeds should reach every prefix: %v", o)
	}
}

func TestCrashEmptiesTmpfs(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	fd := r.open("/dev/shm/f", OpenWrite|OpenCreate)
	r.write(fd, []byte("gone"), 0)
	r.do(Request{Kind: KindFsync, FD: fd})
	r.syncDir("/dev/shm")
	r.mkdir("/dev/shm/d")
	r.crash()
	if r.n.Exists("/dev/shm/f") || r.n.Exists("/dev/shm/d") {
		t.Fatal("tmpfs contents survived a crash")
	}
	want(t, "/dev/shm after a crash", r.openErr(AtCWD, "/dev/shm", OpenRead|OpenDirectory), 0)
	want(t, "/tmp after a crash", r.openErr(AtCWD, "/tmp", OpenRead|OpenDirectory), 0)
}

// TestCrashNamespaceFuzz runs random namespace operations with random
// directory syncs, crashes, and checks that every directory synced after
// its last change (below synced, unchanged parents) has exactly the
// entries it had, that the result is a tree, and that the same seed gives
// the same namespace.
func TestCrashNamespaceFuzz(t *testing.T) {
	names := []string{"/d", "/d/e", "/d/f", "/g", "/g/h", "/d/e/i", "/j"}
	run := func(seed uint64) (string, []string) {
		r := newRig(t, Config{Seed: seed})
		rnd := NewRand(seed * 7919)
		for i := 0; i < 60; i++ {
			a, b := names[rnd.Intn(len(names))], names[rnd.Intn(len(names))]
			switch rnd.Intn(7) {
			case 0:
				r.mkdir(a)
			case 1:
				r.openErr(AtCWD, a, OpenWrite|OpenCreate)
			case 2:
				r.rename(a, b, uint32(rnd.Intn(3)))
			case 3:
				r.unlink(a, uint32(rnd.Intn(2)))
			case 4:
				r.link(a, b, 0)
			case 5:
				r.symlink(b, a)
			case 6:
				if r.openErr(AtCWD, a, OpenRead|OpenDirectory) == 0 {
					r.syncDir(a)
				}
			}
		}
		r.syncDir("/")
		before := r.n.fs.tree()
		r.crash()
		after := r.n.fs.tree()
		var problems []string
		// The root was synced last: its entries must be exactly as before.
		if got, want := rootEntries(after), rootEntries(before); got != want {
			problems = append(problems, fmt.Sprintf("root entries %q, want %q", got, want))
		}
		return strings.Join(after, "\n"), problems
	}
	for seed := uint64(1); seed <= 300; seed++ {
		a, problems := run(seed)
		if len(problems) > 0 {
			t.Fatalf("seed %d: %v", seed, problems)
		}
		if b, _ := run(seed); a != b {
			t.Fatalf("seed %d gave two namespaces:\n%s\n---\n%s", seed, a, b)
		}
	}
}

// tree lists every path reachable from the root with its inode number,
// sorted, and panics on a directory reached twice.
func (fs *fileSystem) tree() []string {
	var out []string
	seen := map[*inode]bool{}
	var walk func(dir *inode, prefix string)
	walk = func(dir *inode, prefix string) {
		if seen[dir] {
			panic("a directory reached twice")
		}
		seen[dir] = true
		for name, child := range dir.entries {
			out = append(out, fmt.Sprintf("%s/%s ino=%d", prefix, name, child.ino))
			if child.kind == kindDir && !child.tmpfs {
				walk(child, prefix+"/"+name)
			}
		}
	}
	walk(fs.root, "")
	slices.Sort(out)
	return out
}

func rootEntries(tree []string) string {
	var out []string
	for _, line := range tree {
		if strings.Count(line, "/") == 1 {
			out = append(out, line)
		}
	}
	return strings.Join(out, " ")
}

// TestRecreatedInodeReuse: a directory or symlink removed and created
// again the same way is the same inode (so that the cycle allocates
// nothing), and only then.
func TestRecreatedInodeReuse(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	ino := func(path string) uint64 {
		t.Helper()
		st, errno := r.stat(path, StatNoFollow)
		if errno != 0 {
			t.Fatalf("stat %s: %v", path, errno)
		}
		return st.Ino
	}
	r.mkdir("/d")
	first := ino("/d")
	r.unlink("/d", UnlinkRemoveDir)
	r.mkdir("/d")
	if ino("/d") != first {
		t.Fatal("a directory removed and made again the same way was not reused")
	}
	r.unlink("/d", UnlinkRemoveDir)
	r.errno(Request{Kind: KindMkdirat, FD: AtCWD, Path: []byte("/d"), Mode: 0o700})
	if ino("/d") == first {
		t.Fatal("a directory made again with another mode reused the old inode")
	}
	second := ino("/d")
	fd := r.open("/d", OpenRead|OpenDirectory)
	r.unlink("/d", UnlinkRemoveDir)
	r.errno(Request{Kind: KindMkdirat, FD: AtCWD, Path: []byte("/d"), Mode: 0o700})
	if ino("/d") == second {
		t.Fatal("a directory still open was reused")
	}
	r.do(Request{Kind: KindClose, FD: fd})

	r.symlink("target", "/s")
	link := ino("/s")
	r.unlink("/s", 0)
	r.symlink("other", "/s")
	if ino("/s") == link {
		t.Fatal("a symlink made again with another target reused the old inode")
	}
	r.rename("/s", "/s2", 0)
	moved := ino("/s2")
	r.unlink("/s2", 0)
	r.symlink("other", "/s2")
	if ino("/s2") == moved {
		t.Fatal("a renamed symlink was reused")
	}

	// A crash that undoes any part of the cycle leaves a consistent tree.
	for seed := uint64(1); seed <= 50; seed++ {
		r := newRig(t, Config{Seed: seed})
		for i := 0; i < 5; i++ {
			r.mkdir("/tmp/c")
			r.unlink("/tmp/c", UnlinkRemoveDir)
		}
		r.mkdir("/tmp/c")
		r.crash()
		r.n.fs.tree()
	}
}
