package ioloop

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Tests of OpenDirect that depend on Linux: O_DIRECT as F_GETFL reports
// it, and the filesystems (/dev/shm, /run, procfs) that refuse it
// (moved from conformance_files_test.go).

// directSupport reports whether the filesystem holding path serves an
// aligned O_DIRECT read, asked with plain syscalls.
func directSupport(path string) (bool, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	buf := AlignedBuffer(64<<10, 64<<10)
	if _, err := unix.Pread(fd, buf, 0); err != nil {
		return false, err
	}
	return true, nil
}

func TestOpenDirect(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "O_DIRECT files of the kernel (OpenDirect)")
		dir, err := os.MkdirTemp("/tmp", "iol-direct")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		path := filepath.Join(dir, "data")
		content := pattern(3*DirectAlignment, 9)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if ok, err := directSupport(path); !ok {
			var fs unix.Statfs_t
			unix.Statfs(dir, &fs)
			t.Skipf("/tmp (filesystem magic %#x) does not serve O_DIRECT reads here: %v", fs.Type, err)
		}

		for _, fallback := range []DirectFallback{DirectRequired, DirectOrBuffered} {
			file, err := OpenDirect(path, unix.O_RDWR, 0, fallback)
			if err != nil {
				t.Fatalf("OpenDirect(%s, fallback %d): %v", path, fallback, err)
			}
			closeOnCleanup(t, file.FD)
			if !file.Direct {
				t.Fatalf("OpenDirect on a filesystem that supports O_DIRECT: Direct = false")
			}
			for _, align := range []int{file.MemoryAlignBytes, file.OffsetAlignBytes} {
				if align <= 0 || align&(align-1) != 0 || align > DirectAlignment {
					t.Fatalf("alignments %d/%d: want powers of two in [1, %d]", file.MemoryAlignBytes, file.OffsetAlignBytes, DirectAlignment)
				}
			}
			fl, err := unix.FcntlInt(uintptr(file.FD), unix.F_GETFL, 0)
			if err != nil || fl&unix.O_DIRECT == 0 {
				t.Fatalf("F_GETFL = %#x, %v; want O_DIRECT", fl, err)
			}
			if fdFlags, err := unix.FcntlInt(uintptr(file.FD), unix.F_GETFD, 0); err != nil || fdFlags&unix.FD_CLOEXEC == 0 {
				t.Fatalf("F_GETFD = %#x, %v; want FD_CLOEXEC", fdFlags, err)
			}
		}
		wantDirectIO(t, l, path, content, true)

		// Errors unrelated to O_DIRECT are reported as they are.
		if f, err := OpenDirect(filepath.Join(dir, "missing"), unix.O_RDONLY, 0, DirectOrBuffered); !errors.Is(err, syscall.ENOENT) || f.FD != -1 {
			if err == nil {
				unix.Close(f.FD)
			}
			t.Fatalf("OpenDirect(missing) = %+v, %v; want FD -1, ENOENT", f, err)
		}
		created, err := OpenDirect(filepath.Join(dir, "new"), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, DirectRequired)
		if err != nil || !created.Direct {
			t.Fatalf("OpenDirect(O_CREAT) = %+v, %v; want a direct file", created, err)
		}
		closeOnCleanup(t, created.FD)
	})
}

// noDirectFile finds a file on a filesystem that rejects O_DIRECT (at open
// or at the first read) and returns its path and content, or "" when this
// machine has none.
func noDirectFile(t *testing.T) (string, []byte) {
	t.Helper()
	// Writable candidates first: memory filesystems rejected O_DIRECT
	// before Linux 6.6.
	for _, dir := range []string{"/dev/shm", "/run"} {
		f, err := os.CreateTemp(dir, "iol-nodirect")
		if err != nil {
			continue
		}
		path := f.Name()
		content := pattern(DirectAlignment, 12)
		_, err = f.Write(content)
		f.Close()
		t.Cleanup(func() { os.Remove(path) })
		if err != nil {
			continue
		}
		if ok, err := directSupport(path); !ok && errors.Is(err, syscall.EINVAL) {
			return path, content
		}
		t.Logf("%s supports O_DIRECT on this kernel", dir)
	}
	// procfs does not support O_DIRECT at all (open fails with EINVAL).
	const proc = "/proc/self/cmdline"
	content, err := os.ReadFile(proc)
	if err == nil && len(content) > 0 {
		if ok, err := directSupport(proc); !ok && errors.Is(err, syscall.EINVAL) {
			return proc, content
		}
	}
	return "", nil
}

func TestOpenDirectFallback(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "O_DIRECT files of the kernel (OpenDirect)")
		path, content := noDirectFile(t)
		if path == "" {
			t.Skip("no filesystem on this machine rejects O_DIRECT (tmpfs supports it since Linux 6.6, and procfs is unavailable)")
		}
		t.Logf("filesystem without O_DIRECT: %s", path)

		if f, err := OpenDirect(path, unix.O_RDONLY, 0, DirectRequired); !errors.Is(err, syscall.EINVAL) || f.FD != -1 {
			if err == nil {
				unix.Close(f.FD)
			}
			t.Fatalf("OpenDirect(%s, DirectRequired) = %+v, %v; want FD -1, EINVAL", path, f, err)
		}
		file, err := OpenDirect(path, unix.O_RDONLY, 0, DirectOrBuffered)
		if err != nil {
			t.Fatalf("OpenDirect(%s, DirectOrBuffered): %v", path, err)
		}
		closeOnCleanup(t, file.FD)
		if file.Direct || file.MemoryAlignBytes != 1 || file.OffsetAlignBytes != 1 {
			t.Fatalf("fallback file = %+v; want Direct=false and alignments 1", file)
		}
		fl, err := unix.FcntlInt(uintptr(file.FD), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_DIRECT != 0 {
			t.Fatalf("fallback F_GETFL = %#x, %v; want no O_DIRECT", fl, err)
		}
		if fdFlags, err := unix.FcntlInt(uintptr(file.FD), unix.F_GETFD, 0); err != nil || fdFlags&unix.FD_CLOEXEC == 0 {
			t.Fatalf("fallback F_GETFD = %#x, %v; want FD_CLOEXEC", fdFlags, err)
		}

		// Unaligned buffered I/O through the loop works on it.
		buf := make([]byte, len(content)+100)
		var r opResult
		var c Completion
		Read(l, &c, file.FD, buf[1:], 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Read from the fallback file", &r, len(content))
		if !bytes.Equal(buf[1:1+r.n], content) {
			t.Fatalf("Read from the fallback file returned %q", buf[1:1+r.n])
		}
	})
}
