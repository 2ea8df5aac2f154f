package ioloop

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// Conformance of the file-system operations (ops_files.go) on every
// backend: success, and the error cases a storage engine meets (bad
// descriptor, missing path, EEXIST, ENOTEMPTY, EXDEV, a path with a NUL
// byte). Everything the tests check goes through the loop's own
// operations or the helpers that work on the simulator too (tempDir,
// tempFile, wantFile, seekFile), never os.* on a simulated loop's paths.
// The Linux-only parts (SyncFileRange, lengths of 4 GiB and more) are in
// conformance_fileops_linux_test.go (Windows has its own form of the
// second, conformance_fileops_windows_test.go); the FALLOC_FL_* modes,
// which Linux and Windows run, in conformance_fileops_modes_test.go.
//
// Each test body is a fileopsCase, so that whitebox_fallback_linux_test.go
// runs the same bodies on an io_uring loop whose opcodes all count as
// missing (the worker-pool fallback).

type fileopsCase struct {
	name string
	fn   func(t *testing.T, l *Loop)
}

// fileopsCases are the portable bodies; fileopsLinuxCases (Linux) adds to
// them.
var fileopsCases = []fileopsCase{
	{"Fallocate", testFileopsFallocate},
	{"Ftruncate", testFileopsFtruncate},
	{"Renameat", testFileopsRenameat},
	{"RenameatFlags", testFileopsRenameatFlags},
	{"Unlinkat", testFileopsUnlinkat},
	{"Mkdirat", testFileopsMkdirat},
	{"Linkat", testFileopsLinkat},
	{"Symlinkat", testFileopsSymlinkat},
	{"Fadvise", testFileopsFadvise},
	{"CrossDevice", testFileopsCrossDevice},
}

func TestFileopsFallocate(t *testing.T)     { forEachBackend(t, Options{}, testFileopsFallocate) }
func TestFileopsFtruncate(t *testing.T)     { forEachBackend(t, Options{}, testFileopsFtruncate) }
func TestFileopsRenameat(t *testing.T)      { forEachBackend(t, Options{}, testFileopsRenameat) }
func TestFileopsRenameatFlags(t *testing.T) { forEachBackend(t, Options{}, testFileopsRenameatFlags) }
func TestFileopsUnlinkat(t *testing.T)      { forEachBackend(t, Options{}, testFileopsUnlinkat) }
func TestFileopsMkdirat(t *testing.T)       { forEachBackend(t, Options{}, testFileopsMkdirat) }
func TestFileopsLinkat(t *testing.T)        { forEachBackend(t, Options{}, testFileopsLinkat) }
func TestFileopsSymlinkat(t *testing.T)     { forEachBackend(t, Options{}, testFileopsSymlinkat) }
func TestFileopsFadvise(t *testing.T)       { forEachBackend(t, Options{}, testFileopsFadvise) }
func TestFileopsCrossDevice(t *testing.T)   { forEachBackend(t, Options{}, testFileopsCrossDevice) }

// fsOp submits one error-only operation and returns its error once its
// callback ran, exactly once.
func fsOp(t *testing.T, l *Loop, submit func(c *Completion, r *opResult)) error {
	t.Helper()
	c, r := new(Completion), new(opResult)
	submit(c, r)
	await(t, l, r)
	return r.err
}

// wantErrno fails unless err matches want (nil: unless err is nil).
func wantErrno(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
	if want != nil && !isErrnoValue(err) {
		t.Fatalf("%s: err is a %T, want a syscall.Errno (on Windows, or a *WindowsError)", what, err)
	}
}

func mkdirat(t *testing.T, l *Loop, path string) error {
	t.Helper()
	return fsOp(t, l, func(c *Completion, r *opResult) {
		Mkdirat(l, c, sysAT_FDCWD, path, 0o755, r, (*opResult).onErr)
	})
}

func renameat(t *testing.T, l *Loop, oldPath, newPath string, flags uint32) error {
	t.Helper()
	return fsOp(t, l, func(c *Completion, r *opResult) {
		Renameat(l, c, sysAT_FDCWD, oldPath, sysAT_FDCWD, newPath, flags, r, (*opResult).onErr)
	})
}

func unlinkat(t *testing.T, l *Loop, path string, flags int) error {
	t.Helper()
	return fsOp(t, l, func(c *Completion, r *opResult) {
		Unlinkat(l, c, sysAT_FDCWD, path, flags, r, (*opResult).onErr)
	})
}

func linkat(t *testing.T, l *Loop, oldPath, newPath string) error {
	t.Helper()
	return fsOp(t, l, func(c *Completion, r *opResult) {
		Linkat(l, c, sysAT_FDCWD, oldPath, sysAT_FDCWD, newPath, 0, r, (*opResult).onErr)
	})
}

func symlinkat(t *testing.T, l *Loop, target, linkPath string) error {
	t.Helper()
	return fsOp(t, l, func(c *Completion, r *opResult) {
		Symlinkat(l, c, target, sysAT_FDCWD, linkPath, r, (*opResult).onErr)
	})
}

// openAt opens path through the loop and returns the descriptor, closed
// through the loop at cleanup, or the error.
func openAt(t *testing.T, l *Loop, path string, flags int, mode uint32) (int, error) {
	t.Helper()
	c, r := new(Completion), new(opResult)
	OpenAt(l, c, sysAT_FDCWD, path, flags, mode, r, (*opResult).onCount)
	await(t, l, r)
	if r.err != nil {
		return -1, r.err
	}
	fd := r.n
	t.Cleanup(func() {
		if !l.closed {
			_ = fsOp(t, l, func(c *Completion, r *opResult) { Close(l, c, fd, r, (*opResult).onErr) })
		}
	})
	return fd, nil
}

// putFile creates (or truncates) path holding content, through the loop,
// and closes it: on Windows a file still open cannot be replaced by a
// rename (ERROR_ACCESS_DENIED), and its deletion waits for the last
// handle, so a test that left it open would test its own leftovers.
func putFile(t *testing.T, l *Loop, path string, content []byte) {
	t.Helper()
	c, r := new(Completion), new(opResult)
	OpenAt(l, c, sysAT_FDCWD, path, sysO_WRONLY|sysO_CREAT|sysO_TRUNC, 0o600, r, (*opResult).onCount)
	await(t, l, r)
	if r.err != nil {
		t.Fatalf("create %s: %v", path, r.err)
	}
	fd := r.n
	c, r = new(Completion), new(opResult)
	Write(l, c, fd, content, 0, r, (*opResult).onCount)
	await(t, l, r)
	wantN(t, "Write "+path, r, len(content))
	wantErrno(t, "Close "+path, fsOp(t, l, func(c *Completion, r *opResult) { Close(l, c, fd, r, (*opResult).onErr) }), nil)
}

// pathExists reports whether path names something, asked with OpenAt
// (O_RDONLY opens directories too).
func pathExists(t *testing.T, l *Loop, path string) bool {
	t.Helper()
	c, r := new(Completion), new(opResult)
	OpenAt(l, c, sysAT_FDCWD, path, sysO_RDONLY, 0, r, (*opResult).onCount)
	await(t, l, r)
	err := r.err
	switch {
	case err == nil:
		fd := r.n
		wantErrno(t, "Close "+path, fsOp(t, l, func(c *Completion, r *opResult) { Close(l, c, fd, r, (*opResult).onErr) }), nil)
		return true
	case errors.Is(err, syscall.ENOENT):
		return false
	}
	t.Fatalf("open %s: %v", path, err)
	return false
}

// fileSize is the size of the open file fd (lseek to the end and back).
func fileSize(t *testing.T, l *Loop, fd int) int64 {
	t.Helper()
	at := currentOffset(t, l, fd)
	size := seekFile(t, l, fd, 0, io.SeekEnd)
	seekFile(t, l, fd, at, io.SeekStart)
	return size
}

// nulPath is a path with a NUL byte in it: EINVAL before any system call.
const nulPath = "bad\x00name"

func testFileopsFallocate(t *testing.T, l *Loop) {
	_, fd := tempFile(t, l, []byte("0123456789"))
	err := fsOp(t, l, func(c *Completion, r *opResult) { Fallocate(l, c, fd, 0, 0, 8192, r, (*opResult).onErr) })
	switch runtime.GOOS {
	case "netbsd", "openbsd":
		// No fallocate that reserves space (sysFallocate): ENOTSUP.
		wantErrno(t, "Fallocate mode 0", err, syscall.ENOTSUP)
		return
	}
	wantErrno(t, "Fallocate mode 0 to 8192", err, nil)
	if size := fileSize(t, l, fd); size != 8192 {
		t.Fatalf("size after Fallocate(0, 8192) = %d, want 8192", size)
	}
	// Inside the file: the size stays.
	err = fsOp(t, l, func(c *Completion, r *opResult) { Fallocate(l, c, fd, 0, 100, 100, r, (*opResult).onErr) })
	wantErrno(t, "Fallocate inside the file", err, nil)
	if size := fileSize(t, l, fd); size != 8192 {
		t.Fatalf("size after Fallocate(100, 100) = %d, want 8192", size)
	}
	buf := make([]byte, 8192)
	c, r := new(Completion), new(opResult)
	Read(l, c, fd, buf, 0, r, (*opResult).onCount)
	await(t, l, r)
	wantN(t, "Read after Fallocate", r, 8192)
	if !bytes.Equal(buf[:10], []byte("0123456789")) || !bytes.Equal(buf[10:], make([]byte, 8182)) {
		t.Fatalf("content after Fallocate is not the old bytes followed by zeros")
	}

	err = fsOp(t, l, func(c *Completion, r *opResult) { Fallocate(l, c, badFD, 0, 0, 4096, r, (*opResult).onErr) })
	wantErrno(t, "Fallocate of a bad fd", err, syscall.EBADF)
	err = fsOp(t, l, func(c *Completion, r *opResult) { Fallocate(l, c, fd, 0, 0, 0, r, (*opResult).onErr) })
	wantErrno(t, "Fallocate of length 0", err, syscall.EINVAL)
	err = fsOp(t, l, func(c *Completion, r *opResult) { Fallocate(l, c, fd, 0, -1, 10, r, (*opResult).onErr) })
	wantErrno(t, "Fallocate at offset -1", err, syscall.EINVAL)
}

func testFileopsFtruncate(t *testing.T, l *Loop) {
	path, fd := tempFile(t, l, []byte("0123456789"))
	ftruncate := func(fd int, length int64) error {
		return fsOp(t, l, func(c *Completion, r *opResult) { Ftruncate(l, c, fd, length, r, (*opResult).onErr) })
	}
	wantErrno(t, "Ftruncate to 3", ftruncate(fd, 3), nil)
	wantFile(t, l, path, []byte("012"))
	wantErrno(t, "Ftruncate to 8", ftruncate(fd, 8), nil)
	wantFile(t, l, path, []byte("012\x00\x00\x00\x00\x00"))
	wantErrno(t, "Ftruncate to 0", ftruncate(fd, 0), nil)
	wantFile(t, l, path, nil)
	wantErrno(t, "Ftruncate of a bad fd", ftruncate(badFD, 0), syscall.EBADF)
	wantErrno(t, "Ftruncate to -1", ftruncate(fd, -1), syscall.EINVAL)
}

func testFileopsRenameat(t *testing.T, l *Loop) {
	dir := tempDir(t, l)
	a, b := joinPath(l, dir, "a"), joinPath(l, dir, "b")
	putFile(t, l, a, []byte("alpha"))
	wantErrno(t, "Renameat a b", renameat(t, l, a, b, 0), nil)
	wantFile(t, l, b, []byte("alpha"))
	if pathExists(t, l, a) {
		t.Fatalf("%s still exists after the rename", a)
	}
	// Over an existing file: replaced atomically.
	putFile(t, l, a, []byte("again"))
	wantErrno(t, "Renameat a over b", renameat(t, l, a, b, 0), nil)
	wantFile(t, l, b, []byte("again"))

	wantErrno(t, "Renameat of a missing path", renameat(t, l, joinPath(l, dir, "missing"), a, 0), syscall.ENOENT)
	wantErrno(t, "Renameat into a missing directory", renameat(t, l, b, joinPath(l, dir, "nodir", "b"), 0), syscall.ENOENT)
	wantErrno(t, "Renameat with a NUL in the old path", renameat(t, l, nulPath, b, 0), syscall.EINVAL)
	wantErrno(t, "Renameat with a NUL in the new path", renameat(t, l, b, nulPath, 0), syscall.EINVAL)
	err := fsOp(t, l, func(c *Completion, r *opResult) {
		Renameat(l, c, badFD, "relative", sysAT_FDCWD, b, 0, r, (*opResult).onErr)
	})
	wantErrno(t, "Renameat relative to a bad dirfd", err, syscall.EBADF)

	// A directory over a non-empty directory: ENOTEMPTY (POSIX also
	// allows EEXIST; Linux, macOS and the BSDs answer ENOTEMPTY).
	d1, d2 := joinPath(l, dir, "d1"), joinPath(l, dir, "d2")
	wantErrno(t, "Mkdirat d1", mkdirat(t, l, d1), nil)
	wantErrno(t, "Mkdirat d2", mkdirat(t, l, d2), nil)
	putFile(t, l, joinPath(l, d2, "f"), []byte("f"))
	wantErrno(t, "Renameat d1 over a non-empty d2", renameat(t, l, d1, d2, 0), syscall.ENOTEMPTY)
	// Over an empty one: replaced.
	wantErrno(t, "Unlinkat d2/f", unlinkat(t, l, joinPath(l, d2, "f"), 0), nil)
	wantErrno(t, "Renameat d1 over an empty d2", renameat(t, l, d1, d2, 0), nil)
	if pathExists(t, l, d1) || !pathExists(t, l, d2) {
		t.Fatalf("after renaming d1 over d2: d1 exists %v, d2 exists %v", pathExists(t, l, d1), pathExists(t, l, d2))
	}
}

// renameFlagsErr is what Renameat with a flag answers on a system without
// renameat2 or renameatx_np (sysRenameat), nil where the flags work.
func renameFlagsErr() error {
	switch runtime.GOOS {
	case "freebsd", "netbsd", "openbsd":
		return syscall.ENOTSUP
	}
	return nil
}

func testFileopsRenameatFlags(t *testing.T, l *Loop) {
	dir := tempDir(t, l)
	a, b := joinPath(l, dir, "a"), joinPath(l, dir, "b")
	putFile(t, l, a, []byte("alpha"))
	putFile(t, l, b, []byte("beta"))
	if want := renameFlagsErr(); want != nil {
		wantErrno(t, "Renameat with RenameNoReplace", renameat(t, l, a, b, RenameNoReplace), want)
		wantErrno(t, "Renameat with RenameExchange", renameat(t, l, a, b, RenameExchange), want)
		return
	}
	wantErrno(t, "Renameat with RenameNoReplace onto an existing name", renameat(t, l, a, b, RenameNoReplace), syscall.EEXIST)
	wantFile(t, l, a, []byte("alpha"))
	wantFile(t, l, b, []byte("beta"))
	c := joinPath(l, dir, "c")
	wantErrno(t, "Renameat with RenameNoReplace onto a new name", renameat(t, l, a, c, RenameNoReplace), nil)
	wantFile(t, l, c, []byte("alpha"))
	if l.Backend() == BackendIOCP {
		// Windows has no atomic exchange of two names: ENOTSUP, as any
		// flag on the BSDs (MoveFileEx does RenameNoReplace).
		wantErrno(t, "Renameat with RenameExchange on IOCP", renameat(t, l, b, c, RenameExchange), syscall.ENOTSUP)
		wantFile(t, l, b, []byte("beta"))
		wantFile(t, l, c, []byte("alpha"))
		wantErrno(t, "Renameat with both flags", renameat(t, l, b, c, RenameNoReplace|RenameExchange), syscall.EINVAL)
		return
	}

	wantErrno(t, "Renameat with RenameExchange", renameat(t, l, b, c, RenameExchange), nil)
	wantFile(t, l, b, []byte("alpha"))
	wantFile(t, l, c, []byte("beta"))
	wantErrno(t, "Renameat with RenameExchange and a missing new path", renameat(t, l, b, a, RenameExchange), syscall.ENOENT)
	wantErrno(t, "Renameat with both flags", renameat(t, l, b, c, RenameNoReplace|RenameExchange), syscall.EINVAL)
}

// unlinkDirErr is what unlinking a directory without AT_REMOVEDIR
// answers: EISDIR on Linux, EPERM (POSIX's answer) on macOS and the BSDs;
// on Windows only the simulator gets here, which answers as Linux does.
func unlinkDirErr() error {
	if runtime.GOOS == "linux" || runtime.GOOS == "windows" {
		return syscall.EISDIR
	}
	return syscall.EPERM
}

func testFileopsUnlinkat(t *testing.T, l *Loop) {
	dir := tempDir(t, l)
	f := joinPath(l, dir, "f")
	putFile(t, l, f, []byte("f"))
	d := joinPath(l, dir, "d")
	wantErrno(t, "Mkdirat d", mkdirat(t, l, d), nil)

	wantErrno(t, "Unlinkat of a directory without AT_REMOVEDIR", unlinkat(t, l, d, 0), unlinkDirErr())
	wantErrno(t, "Unlinkat of a file with AT_REMOVEDIR", unlinkat(t, l, f, sysAT_REMOVEDIR), syscall.ENOTDIR)
	wantErrno(t, "Unlinkat f", unlinkat(t, l, f, 0), nil)
	if pathExists(t, l, f) {
		t.Fatalf("%s exists after Unlinkat", f)
	}
	wantErrno(t, "Unlinkat of a missing file", unlinkat(t, l, f, 0), syscall.ENOENT)

	putFile(t, l, joinPath(l, d, "g"), []byte("g"))
	wantErrno(t, "Unlinkat of a non-empty directory", unlinkat(t, l, d, sysAT_REMOVEDIR), syscall.ENOTEMPTY)
	wantErrno(t, "Unlinkat d/g", unlinkat(t, l, joinPath(l, d, "g"), 0), nil)
	wantErrno(t, "Unlinkat of the empty directory", unlinkat(t, l, d, sysAT_REMOVEDIR), nil)
	if pathExists(t, l, d) {
		t.Fatalf("%s exists after Unlinkat(AT_REMOVEDIR)", d)
	}
	wantErrno(t, "Unlinkat with a NUL", unlinkat(t, l, nulPath, 0), syscall.EINVAL)
	err := fsOp(t, l, func(c *Completion, r *opResult) { Unlinkat(l, c, badFD, "relative", 0, r, (*opResult).onErr) })
	wantErrno(t, "Unlinkat relative to a bad dirfd", err, syscall.EBADF)
}

func testFileopsMkdirat(t *testing.T, l *Loop) {
	dir := tempDir(t, l)
	d := joinPath(l, dir, "d")
	wantErrno(t, "Mkdirat", mkdirat(t, l, d), nil)
	// A directory: a file can be made in it, and it opens as one.
	putFile(t, l, joinPath(l, d, "inside"), []byte("x"))
	wantFile(t, l, joinPath(l, d, "inside"), []byte("x"))
	if _, err := openAt(t, l, d, sysO_RDONLY|sysO_DIRECTORY, 0); err != nil {
		t.Fatalf("open the new directory with O_DIRECTORY: %v", err)
	}
	wantErrno(t, "Mkdirat of an existing directory", mkdirat(t, l, d), syscall.EEXIST)
	wantErrno(t, "Mkdirat in a missing directory", mkdirat(t, l, joinPath(l, dir, "no", "d")), syscall.ENOENT)
	wantErrno(t, "Mkdirat with a NUL", mkdirat(t, l, nulPath), syscall.EINVAL)
	// Relative to a directory descriptor.
	dirFD, err := openAt(t, l, dir, sysO_RDONLY|sysO_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = fsOp(t, l, func(c *Completion, r *opResult) { Mkdirat(l, c, dirFD, "rel", 0o700, r, (*opResult).onErr) })
	wantErrno(t, "Mkdirat relative to a dirfd", err, nil)
	if !pathExists(t, l, joinPath(l, dir, "rel")) {
		t.Fatalf("Mkdirat(dirfd, \"rel\") made nothing at %s/rel", dir)
	}
	err = fsOp(t, l, func(c *Completion, r *opResult) { Mkdirat(l, c, badFD, "rel", 0o700, r, (*opResult).onErr) })
	wantErrno(t, "Mkdirat relative to a bad dirfd", err, syscall.EBADF)
	// Relative to a descriptor of a file: ENOTDIR.
	putFile(t, l, joinPath(l, dir, "file"), []byte("f"))
	fileFD, err := openAt(t, l, joinPath(l, dir, "file"), sysO_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = fsOp(t, l, func(c *Completion, r *opResult) { Mkdirat(l, c, fileFD, "rel2", 0o700, r, (*opResult).onErr) })
	wantErrno(t, "Mkdirat relative to a file's descriptor", err, syscall.ENOTDIR)
}

func testFileopsLinkat(t *testing.T, l *Loop) {
	dir := tempDir(t, l)
	a, b := joinPath(l, dir, "a"), joinPath(l, dir, "b")
	putFile(t, l, a, []byte("shared"))
	wantErrno(t, "Linkat a b", linkat(t, l, a, b), nil)
	wantFile(t, l, b, []byte("shared"))
	// One file under two names: a write through one shows through the other.
	putFile(t, l, a, []byte("changed"))
	wantFile(t, l, b, []byte("changed"))
	wantErrno(t, "Linkat onto an existing name", linkat(t, l, a, b), syscall.EEXIST)
	wantErrno(t, "Linkat of a missing path", linkat(t, l, joinPath(l, dir, "missing"), joinPath(l, dir, "c")), syscall.ENOENT)
	wantErrno(t, "Linkat with a NUL in the old path", linkat(t, l, nulPath, joinPath(l, dir, "c")), syscall.EINVAL)
	wantErrno(t, "Linkat with a NUL in the new path", linkat(t, l, a, nulPath), syscall.EINVAL)
	err := fsOp(t, l, func(c *Completion, r *opResult) {
		Linkat(l, c, sysAT_FDCWD, a, badFD, "relative", 0, r, (*opResult).onErr)
	})
	wantErrno(t, "Linkat relative to a bad new dirfd", err, syscall.EBADF)
}

func testFileopsSymlinkat(t *testing.T, l *Loop) {
	dir := tempDir(t, l)
	target, link := joinPath(l, dir, "target"), joinPath(l, dir, "link")
	putFile(t, l, target, []byte("pointed at"))
	err := symlinkat(t, l, target, link)
	if l.Backend() == BackendIOCP {
		// Windows makes the link or fails: EPERM without
		// SeCreateSymbolicLinkPrivilege or developer mode. A success
		// that made nothing is wine's (8.0's CreateSymbolicLink is a stub).
		if errors.Is(err, syscall.EPERM) {
			t.Skip("iocp: CreateSymbolicLink needs SeCreateSymbolicLinkPrivilege or developer mode (EPERM)")
		}
		if err == nil && !pathExists(t, l, link) {
			t.Skip("iocp: CreateSymbolicLink reported success and made no link (wine 8.0's is a stub); Symlinkat needs real Windows to test")
		}
	}
	wantErrno(t, "Symlinkat", err, nil)
	wantFile(t, l, link, []byte("pointed at"))
	// O_NOFOLLOW refuses the link itself: it is a symbolic link.
	if _, err := openAt(t, l, link, sysO_RDONLY|sysO_NOFOLLOW, 0); !errors.Is(err, syscall.ELOOP) {
		t.Fatalf("open the link with O_NOFOLLOW: %v, want ELOOP", err)
	}
	// The target is not checked: a dangling link is made, and opening it
	// finds nothing.
	dangling := joinPath(l, dir, "dangling")
	wantErrno(t, "Symlinkat to nothing", symlinkat(t, l, joinPath(l, dir, "nothing"), dangling), nil)
	if _, err := openAt(t, l, dangling, sysO_RDONLY, 0); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("open a dangling link: %v, want ENOENT", err)
	}
	wantErrno(t, "Symlinkat onto an existing name", symlinkat(t, l, target, link), syscall.EEXIST)
	wantErrno(t, "Symlinkat in a missing directory", symlinkat(t, l, target, joinPath(l, dir, "no", "link")), syscall.ENOENT)
	wantErrno(t, "Symlinkat with a NUL in the target", symlinkat(t, l, nulPath, joinPath(l, dir, "l2")), syscall.EINVAL)
	wantErrno(t, "Symlinkat with a NUL in the link", symlinkat(t, l, target, nulPath), syscall.EINVAL)
	err = fsOp(t, l, func(c *Completion, r *opResult) {
		Symlinkat(l, c, target, badFD, "relative", r, (*opResult).onErr)
	})
	wantErrno(t, "Symlinkat relative to a bad dirfd", err, syscall.EBADF)
}

// fadviseSequential is POSIX_FADV_SEQUENTIAL, 2 on every system that has
// it (x/sys names it only where posix_fadvise exists).
const fadviseSequential = 2

func testFileopsFadvise(t *testing.T, l *Loop) {
	_, fd := tempFile(t, l, pattern(8192, 3))
	fadvise := func(fd int, offset, length int64) error {
		return fsOp(t, l, func(c *Completion, r *opResult) {
			Fadvise(l, c, fd, offset, length, fadviseSequential, r, (*opResult).onErr)
		})
	}
	wantErrno(t, "Fadvise of the whole file", fadvise(fd, 0, 0), nil)
	wantErrno(t, "Fadvise of a range", fadvise(fd, 4096, 4096), nil)
	wantErrno(t, "Fadvise of a bad fd", fadvise(badFD, 0, 0), syscall.EBADF)
	wantErrno(t, "Fadvise with a negative length", fadvise(fd, 0, -1), syscall.EINVAL)
}

// otherDeviceDir returns a fresh directory on another file system than
// tempDir's, for EXDEV: /dev/shm (tmpfs) on the kernel backends, removed
// at cleanup; on the simulator, which models /dev/shm as a second device,
// a fresh path under it. It skips the test where /dev/shm is missing or
// on the same device.
func otherDeviceDir(t *testing.T, l *Loop) string {
	t.Helper()
	if simOf(l) != nil {
		simTempDirs++
		dir := joinPath(l, "/dev/shm", "iol"+strconv.Itoa(simTempDirs))
		if err := mkdirat(t, l, dir); err != nil && !errors.Is(err, syscall.EEXIST) {
			t.Fatalf("Mkdirat %s on the simulator: %v", dir, err)
		}
		return dir
	}
	dir, err := os.MkdirTemp("/dev/shm", "iol")
	if err != nil {
		t.Skipf("no /dev/shm to cross devices with: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if sameDevice(tempDir(t, l), dir) {
		t.Skip("/dev/shm is on the same device as the test's temporary directory")
	}
	return dir
}

func testFileopsCrossDevice(t *testing.T, l *Loop) {
	dir, other := tempDir(t, l), otherDeviceDir(t, l)
	a := joinPath(l, dir, "a")
	putFile(t, l, a, []byte("stays"))
	wantErrno(t, "Renameat across devices", renameat(t, l, a, joinPath(l, other, "a"), 0), syscall.EXDEV)
	wantErrno(t, "Linkat across devices", linkat(t, l, a, joinPath(l, other, "a")), syscall.EXDEV)
	wantFile(t, l, a, []byte("stays"))
	if pathExists(t, l, joinPath(l, other, "a")) {
		t.Fatalf("a failed cross-device rename or link left %s/a", other)
	}
}
