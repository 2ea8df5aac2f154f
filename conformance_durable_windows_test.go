package ioloop

import (
	"testing"

	"golang.org/x/sys/windows"
)

// Windows' side of TestDurableODirectODsync (conformance_durable_direct_test.go).

// directSupport reports whether path opens as OpenAt opens it with
// O_DIRECT (FILE_FLAG_NO_BUFFERING), which every local Windows file
// system serves.
func directSupport(path string) (bool, error) {
	h, errno := openWindowsFile(new([]uint16), sysAT_FDCWD, append([]byte(path), 0), sysO_RDONLY|sysO_DIRECT, 0)
	if errno != 0 {
		return false, errnoError(errno)
	}
	windows.CloseHandle(h)
	return true, nil
}

// wantDirectDsyncFlags fails the test unless the handle's mode
// (NtQueryInformationFile FileModeInformation) has
// FILE_NO_INTERMEDIATE_BUFFERING (O_DIRECT) and FILE_WRITE_THROUGH
// (O_DSYNC), what CreateFile makes of FILE_FLAG_NO_BUFFERING and
// FILE_FLAG_WRITE_THROUGH.
func wantDirectDsyncFlags(t *testing.T, fd int) {
	t.Helper()
	mode := handleMode(t, fd)
	const want = windows.FILE_NO_INTERMEDIATE_BUFFERING | windows.FILE_WRITE_THROUGH
	if mode&want != want {
		t.Fatalf("file mode = %#x: want FILE_NO_INTERMEDIATE_BUFFERING and FILE_WRITE_THROUGH (%#x) set", mode, want)
	}
}

// misalignedDirectRefused is false under wine, which runs an unbuffered
// ReadFile or WriteFile through Linux's page cache and so takes any buffer
// and offset (confirmed with wine 8.0); Windows refuses a misaligned one
// (ERROR_INVALID_PARAMETER: EINVAL). Under wine the handle's mode
// (wantDirectDsyncFlags) is what shows the flags.
func misalignedDirectRefused() bool { return !underWine() }

// underWine reports whether the test runs under wine (ntdll exports
// wine_get_version there only).
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// directDsyncRDWR is what TestDurableODirectODsync opens the log with:
// Linux's values, as OpenAt takes them on Windows.
const directDsyncRDWR = sysO_RDWR | sysO_DIRECT | sysO_DSYNC
