package ioloop

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The helpers of helpers_test.go that differ by system, for Windows
// (helpers_unix_test.go has Unix's): handles are opened as the IOCP
// backend opens them, and the test's sockets, associated with a loop's
// completion port, are read and written through the loop.

// kernelTempDir returns a new, empty directory removed at cleanup
// (wineSafeTempDir).
func kernelTempDir(t testing.TB) string {
	t.Helper()
	return wineSafeTempDir(t)
}

// openKernelFile opens path as the IOCP backend's OpenAt does (overlapped,
// not inheritable), flags O_RDONLY, O_WRONLY or O_RDWR.
func openKernelFile(t testing.TB, path string, flags int) int {
	t.Helper()
	h, errno := openWindowsFile(new([]uint16), sysAT_FDCWD, append([]byte(path), 0), uint32(flags), 0)
	if errno != 0 {
		t.Fatalf("open %s: %v", path, errnoError(errno))
	}
	return int(h)
}

// shortTempDir returns a fresh directory with a short path (unix socket
// paths are limited to 107 bytes; t.TempDir embeds the test name).
func shortTempDir(t testing.TB) string {
	t.Helper()
	return wineSafeTempDir(t)
}

// wineSafeTempDir is t.TempDir, except that its cleanup removes the tree
// file by file: Go's os.RemoveAll on Windows deletes with POSIX semantics
// (FILE_DISPOSITION_INFORMATION_EX), which wine 8.0 does not implement
// ("Invalid function"), so t.TempDir's cleanup fails every test under
// wine. os.Remove (DeleteFile, RemoveDirectory) works there.
func wineSafeTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "iol")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var paths []string
		_ = filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
			paths = append(paths, path)
			return nil
		})
		for i := len(paths) - 1; i >= 0; i-- {
			// A file removed while a handle to it is still open is only
			// "delete pending", and its directory is not empty until the
			// last handle closes: a loop's worker may still be closing
			// its duplicate. Wait for that, boundedly; a handle that was
			// leaked keeps the directory, and the test fails.
			var err error
			for wait := 0; wait < 200; wait++ {
				if err = os.Remove(paths[i]); err == nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return dir
}

// hugeBuffer reserves and commits size bytes with VirtualAlloc (untouched
// pages cost no memory), skipping the test if Windows refuses, and frees
// them at cleanup. Loops that may touch the buffer must be created after
// it, so that they are closed before it is freed.
func hugeBuffer(t testing.TB, size int) []byte {
	t.Helper()
	addr, err := windows.VirtualAlloc(0, uintptr(size), windows.MEM_RESERVE|windows.MEM_COMMIT, windows.PAGE_READWRITE)
	if err != nil {
		t.Skipf("cannot allocate a %d-byte buffer: %v", size, err)
	}
	t.Cleanup(func() { _ = windows.VirtualFree(addr, 0, windows.MEM_RELEASE) })
	return unsafe.Slice(*(**byte)(unsafe.Pointer(&addr)), size)
}

// readinessBackendKind is the second kernel backend the harness
// (testBackends) runs every conformance test on: on Windows, IOCP.
const readinessBackendKind = BackendIOCP

// readAllNonblocking reads exactly n bytes from the socket fd with the
// loop's Recv (on Windows, as on the simulator: the test's sockets belong
// to the loop's completion port), waiting up to waitLimit.
func readAllNonblocking(t testing.TB, l *Loop, fd int, n int) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	buf := make([]byte, 64<<10)
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

// writeAll writes b to the socket fd with the loop's Send.
func writeAll(t testing.TB, l *Loop, fd int, b []byte) {
	t.Helper()
	var r opResult
	var c Completion
	Send(l, &c, fd, b, &r, (*opResult).onCount)
	runUntil(t, l, waitLimit, r.done)
	if r.err != nil {
		t.Fatalf("write: %v after %d of %d bytes", r.err, r.n, len(b))
	}
	simSettle(t, l)
}

// wantNonblockCloexec fails unless the handle fd is open and not
// inheritable (HANDLE_FLAG_INHERIT clear), Windows' close-on-exec. Windows
// has no non-blocking flag a test could read back (FIONBIO can only be
// set), and the loop's overlapped calls never block. Simulated
// descriptors have no such flags: nothing to check.
func wantNonblockCloexec(t testing.TB, l *Loop, fd int) {
	t.Helper()
	if l != nil && simOf(l) != nil {
		return
	}
	var flags uint32
	if r, _, err := procGetHandleInformation.Call(uintptr(fd), uintptr(unsafe.Pointer(&flags))); r == 0 {
		t.Fatalf("GetHandleInformation(%d): %v", fd, err)
	}
	if flags&windows.HANDLE_FLAG_INHERIT != 0 {
		t.Errorf("handle %d: inheritable (HANDLE_FLAG_INHERIT set)", fd)
	}
}

// procGetHandleInformation is kernel32's GetHandleInformation, which
// x/sys/windows lacks.
var procGetHandleInformation = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetHandleInformation")

// seekFile moves where Reads and Writes at offset -1 of the file fd
// happen, as lseek(2) does on Unix, and returns the new position (on the
// simulator, lseek on the node). On IOCP that position is the loop's own
// (an overlapped handle has no file pointer the kernel advances), so this
// sets it in the backend's record of the handle: a whitebox step.
func seekFile(t testing.TB, l *Loop, fd int, offset int64, whence int) int64 {
	t.Helper()
	if l != nil && simOf(l) != nil {
		off, errno := simOf(l).node.Seek(fd, offset, whence)
		if errno != 0 {
			t.Fatalf("lseek: %v", errno)
		}
		return off
	}
	b, ok := l.backend.(*iocpBackend)
	if !ok {
		t.Fatalf("seekFile on a %v loop", l.Backend())
	}
	h := windows.Handle(fd)
	st := b.state(h)
	switch whence {
	case io.SeekCurrent:
		offset += st.positionBytes
	case io.SeekEnd:
		size, err := windows.Seek(h, 0, io.SeekEnd)
		if err != nil {
			t.Fatalf("SetFilePointerEx: %v", err)
		}
		offset += size
	}
	st.positionBytes = offset
	b.handles[h] = st
	return offset
}

// currentOffset returns where a Read or Write at offset -1 of the file fd
// happens next: on IOCP the loop's own position for the handle (an
// overlapped handle has no file pointer the kernel advances), on the
// simulator the node's.
func currentOffset(t testing.TB, l *Loop, fd int) int64 {
	t.Helper()
	if l != nil && simOf(l) != nil {
		off, errno := simOf(l).node.Seek(fd, 0, io.SeekCurrent)
		if errno != 0 {
			t.Fatalf("lseek: %v", errno)
		}
		return off
	}
	b, ok := l.backend.(*iocpBackend)
	if !ok {
		t.Fatalf("currentOffset on a %v loop", l.Backend())
	}
	st, ok := b.handles[windows.Handle(fd)]
	if !ok {
		return 0 // the loop has not used it: nothing moved it
	}
	return st.positionBytes
}

// fileIdentity names the open file behind a handle: nothing on Windows,
// where sockets have no such identity; the Unix runs of the shared tests
// check closeOnCleanup's use.
type fileIdentity struct{}

// fdIdentity reports nothing known on Windows.
func fdIdentity(int) (fileIdentity, bool) { return fileIdentity{}, false }

// makeSparse marks the file fd sparse (FSCTL_SET_SPARSE), as a Windows
// program must before it leaves holes: an NTFS file is not sparse
// otherwise, and a write far past its end makes Windows allocate and zero
// the whole gap. The simulator's files need nothing. The OVERLAPPED's
// event has its low bit set, so that no packet reaches a loop's port.
func makeSparse(t testing.TB, l *Loop, fd int) {
	t.Helper()
	if l != nil && simOf(l) != nil {
		return
	}
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	defer windows.CloseHandle(ev)
	var pin runtime.Pinner // the kernel may write ov until the call ends
	defer pin.Unpin()
	ov := &windows.Overlapped{HEvent: ev | 1}
	pin.Pin(ov)
	var n uint32
	h := windows.Handle(fd)
	err = windows.DeviceIoControl(h, windows.FSCTL_SET_SPARSE, nil, 0, nil, 0, &n, ov)
	if err == nil || err == windows.ERROR_IO_PENDING {
		err = windows.GetOverlappedResult(h, ov, &n, true)
	}
	if err != nil {
		t.Fatalf("FSCTL_SET_SPARSE: %v", err)
	}
}

// isErrnoValue reports whether err is an errno as the loop delivers it: a
// syscall.Errno, or a *WindowsError that keeps the Windows code beside it.
func isErrnoValue(err error) bool {
	switch err.(type) {
	case syscall.Errno, *WindowsError:
		return true
	}
	return false
}
