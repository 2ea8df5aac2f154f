//go:build !windows

package ioloop

import (
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The helpers of helpers_test.go that differ by system, for Unix
// (helpers_windows_test.go has Windows' own).

// kernelTempDir returns a new, empty directory removed at cleanup.
func kernelTempDir(t testing.TB) string {
	t.Helper()
	return t.TempDir()
}

// openKernelFile opens path with open(2), flags O_RDONLY, O_WRONLY or
// O_RDWR, close-on-exec.
func openKernelFile(t testing.TB, path string, flags int) int {
	t.Helper()
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return fd
}

// wantNonblockCloexec fails unless fd is open, non-blocking and
// close-on-exec. Simulated descriptors have no such flags: nothing to
// check.
func wantNonblockCloexec(t testing.TB, l *Loop, fd int) {
	t.Helper()
	if l != nil && simOf(l) != nil {
		return
	}
	fdFlags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("fcntl(%d, F_GETFD): %v", fd, err)
	}
	if fdFlags&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd %d: FD_CLOEXEC not set (F_GETFD = %#x)", fd, fdFlags)
	}
	flFlags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatalf("fcntl(%d, F_GETFL): %v", fd, err)
	}
	if flFlags&unix.O_NONBLOCK == 0 {
		t.Errorf("fd %d: O_NONBLOCK not set (F_GETFL = %#x)", fd, flFlags)
	}
}

// shortTempDir returns a fresh directory with a short path (unix socket
// paths are limited to 107 bytes; t.TempDir embeds the test name).
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "iol")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// seekFile is lseek(2) on a file of l.
func seekFile(t testing.TB, l *Loop, fd int, offset int64, whence int) int64 {
	t.Helper()
	if l != nil && simOf(l) != nil {
		off, errno := simOf(l).node.Seek(fd, offset, whence)
		if errno != 0 {
			t.Fatalf("lseek: %v", errno)
		}
		return off
	}
	off, err := unix.Seek(fd, offset, whence)
	if err != nil {
		t.Fatalf("lseek: %v", err)
	}
	return off
}

// currentOffset returns fd's file position.
func currentOffset(t testing.TB, l *Loop, fd int) int64 {
	t.Helper()
	return seekFile(t, l, fd, 0, io.SeekCurrent)
}

// readAllNonblocking reads exactly n bytes from the non-blocking socket
// fd with plain syscalls (on the simulator, where the test has no other
// way into the node, with the loop's Recv), waiting up to waitLimit.
func readAllNonblocking(t testing.TB, l *Loop, fd int, n int) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	buf := make([]byte, 64<<10)
	if l != nil && simOf(l) != nil {
		for len(out) < n {
			var r opResult
			var c Completion
			Recv(l, &c, fd, buf[:min(len(buf), n-len(out))], &r, (*opResult).onCount)
			runUntil(t, l, waitLimit, r.done)
			if r.err != nil {
				t.Fatalf("read: %v after %d of %d bytes", r.err, len(out), n)
			}
			out = append(out, buf[:r.n]...)
		}
		return out
	}
	deadline := time.Now().Add(waitLimit)
	for len(out) < n {
		m, err := unix.Read(fd, buf[:min(len(buf), n-len(out))])
		switch {
		case err == syscall.EAGAIN:
			if time.Now().After(deadline) {
				t.Fatalf("read: got %d of %d bytes before the time limit", len(out), n)
			}
			time.Sleep(time.Millisecond)
		case err != nil:
			t.Fatalf("read: %v", err)
		case m == 0:
			t.Fatalf("read: EOF after %d of %d bytes", len(out), n)
		default:
			out = append(out, buf[:m]...)
		}
	}
	return out
}

// writeAll writes b to the non-blocking socket fd with plain syscalls (on
// the simulator, with the loop's Send, and until the bytes have arrived:
// on loopback, written bytes are readable at once).
func writeAll(t testing.TB, l *Loop, fd int, b []byte) {
	t.Helper()
	if l != nil && simOf(l) != nil {
		var r opResult
		var c Completion
		Send(l, &c, fd, b, &r, (*opResult).onCount)
		runUntil(t, l, waitLimit, r.done)
		if r.err != nil {
			t.Fatalf("write: %v after %d of %d bytes", r.err, r.n, len(b))
		}
		simSettle(t, l)
		return
	}
	deadline := time.Now().Add(waitLimit)
	for len(b) > 0 {
		m, err := unix.Write(fd, b)
		switch {
		case err == syscall.EAGAIN:
			if time.Now().After(deadline) {
				t.Fatalf("write: %d bytes left at the time limit", len(b))
			}
			time.Sleep(time.Millisecond)
		case err != nil:
			t.Fatalf("write: %v", err)
		default:
			b = b[m:]
		}
	}
}

// hugeBuffer maps size bytes of anonymous memory without reserving it:
// untouched pages cost nothing (reads see the shared zero page), so tests
// can hand the kernel buffers of several GiB. It skips the test if the
// mapping is refused, and unmaps at cleanup. Loops that may touch the
// buffer must be created after it, so that they are closed before it is
// unmapped.
func hugeBuffer(t testing.TB, size int) []byte {
	t.Helper()
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, hugeBufferFlags)
	if err != nil {
		t.Skipf("cannot map a %d-byte buffer: %v", size, err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	return mem
}

// fileIdentity names the open file behind a descriptor.
type fileIdentity struct{ dev, ino uint64 }

// fdIdentity returns the identity of the file open on fd, and false if
// fd is not open.
func fdIdentity(fd int) (fileIdentity, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileIdentity{}, false
	}
	return fileIdentity{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}

// makeSparse does nothing on Unix, where a file is sparse wherever it was
// never written (the Windows form sets FSCTL_SET_SPARSE).
func makeSparse(testing.TB, *Loop, int) {}

// underWine is false on Unix: wine runs Windows programs only
// (conformance_durable_windows_test.go has Windows' form).
func underWine() bool { return false }

// isErrnoValue reports whether err is an errno as the loop delivers it: a
// syscall.Errno.
func isErrnoValue(err error) bool {
	_, ok := err.(syscall.Errno)
	return ok
}
