package ioloop

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Windows' form of the OpenDirect tests of conformance_direct_linux_test.go:
// O_DIRECT is FILE_FLAG_NO_BUFFERING (direct_windows.go), which the handle's
// mode shows as FILE_NO_INTERMEDIATE_BUFFERING where Linux's F_GETFL shows
// O_DIRECT, and close-on-exec is a handle that is not inheritable
// (wantNonblockCloexec).

// handleMode is the handle's mode (NtQueryInformationFile
// FileModeInformation): the FILE_* create options it was opened with.
func handleMode(t *testing.T, fd int) uint32 {
	t.Helper()
	var iosb windows.IO_STATUS_BLOCK
	var mode uint32
	st, _, _ := procNtQueryInformationFile.Call(uintptr(fd), uintptr(unsafe.Pointer(&iosb)),
		uintptr(unsafe.Pointer(&mode)), unsafe.Sizeof(mode), fileModeInformation)
	if st != 0 {
		t.Fatalf("NtQueryInformationFile(FileModeInformation): NTSTATUS %#x", st)
	}
	return mode
}

func TestOpenDirect(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "FILE_FLAG_NO_BUFFERING files of the kernel (OpenDirect)")
		dir := kernelTempDir(t)
		path := filepath.Join(dir, "data")
		content := pattern(3*DirectAlignment, 9)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if ok, err := directSupport(path); !ok {
			t.Skipf("%s does not open with FILE_FLAG_NO_BUFFERING here: %v", dir, err)
		}

		for _, fallback := range []DirectFallback{DirectRequired, DirectOrBuffered} {
			file, err := OpenDirect(path, sysO_RDWR, 0, fallback)
			if err != nil {
				t.Fatalf("OpenDirect(%s, fallback %d): %v", path, fallback, err)
			}
			closeOnCleanup(t, file.FD)
			if !file.Direct {
				t.Fatalf("OpenDirect on a local file system: Direct = false")
			}
			for _, align := range []int{file.MemoryAlignBytes, file.OffsetAlignBytes} {
				if align <= 0 || align&(align-1) != 0 || align > DirectAlignment {
					t.Fatalf("alignments %d/%d: want powers of two in [1, %d]", file.MemoryAlignBytes, file.OffsetAlignBytes, DirectAlignment)
				}
			}
			if mode := handleMode(t, file.FD); mode&windows.FILE_NO_INTERMEDIATE_BUFFERING == 0 {
				t.Fatalf("handle mode = %#x; want FILE_NO_INTERMEDIATE_BUFFERING", mode)
			}
			wantNonblockCloexec(t, nil, file.FD)
		}
		// FILE_FLAG_NO_BUFFERING is really in effect: Windows refuses a
		// misaligned offset (ERROR_INVALID_PARAMETER). Wine runs the read
		// through Linux's page cache and takes any offset and buffer
		// (confirmed with wine 8.0: a read at offset 1 and a write from a
		// misaligned buffer both succeed on such a handle), so there the
		// handle's mode above is what shows the flag.
		wantDirectIO(t, l, path, content, misalignedDirectRefused())

		// Errors unrelated to direct I/O are reported as they are.
		if f, err := OpenDirect(filepath.Join(dir, "missing"), sysO_RDONLY, 0, DirectOrBuffered); !errors.Is(err, syscall.ENOENT) || f.FD != -1 {
			if err == nil {
				closeOnCleanup(t, f.FD)
			}
			t.Fatalf("OpenDirect(missing) = %+v, %v; want FD -1, ENOENT", f, err)
		}
		created, err := OpenDirect(filepath.Join(dir, "new"), sysO_RDWR|sysO_CREAT|sysO_EXCL, 0o600, DirectRequired)
		if err != nil || !created.Direct {
			t.Fatalf("OpenDirect(O_CREAT) = %+v, %v; want a direct file", created, err)
		}
		closeOnCleanup(t, created.FD)
		if mode := handleMode(t, created.FD); mode&windows.FILE_NO_INTERMEDIATE_BUFFERING == 0 {
			t.Fatalf("created file's handle mode = %#x; want FILE_NO_INTERMEDIATE_BUFFERING", mode)
		}
		if f, err := OpenDirect(filepath.Join(dir, "new"), sysO_RDWR|sysO_CREAT|sysO_EXCL, 0o600, DirectOrBuffered); !errors.Is(err, syscall.EEXIST) || f.FD != -1 {
			if err == nil {
				closeOnCleanup(t, f.FD)
			}
			t.Fatalf("OpenDirect(O_CREAT|O_EXCL) of an existing file = %+v, %v; want FD -1, EEXIST", f, err)
		}
		if f, err := OpenDirect(path+"\x00x", sysO_RDONLY, 0, DirectOrBuffered); !errors.Is(err, syscall.EINVAL) || f.FD != -1 {
			if err == nil {
				closeOnCleanup(t, f.FD)
			}
			t.Fatalf("OpenDirect of a path with a NUL = %+v, %v; want FD -1, EINVAL", f, err)
		}
	})
}
