package ioloop

import (
	"errors"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/windows"
)

// Every Windows code the backend maps to an errno name is delivered as a
// *WindowsError that keeps it: packed into the Completion's 32 bits and
// back without loss, matching both names with errors.Is, and allocating
// nothing once the pair has been delivered.
func TestWindowsErrorKeepsTheCode(t *testing.T) {
	for code := syscall.Errno(1); code < 12000; code++ {
		errno := errnoFromWindows(code)
		if errno == code {
			continue // no errno name of its own: delivered as the code itself
		}
		packed := withWindowsCode(errno, code)
		if plainErrno(packed) != errno {
			t.Fatalf("code %d: packed %#x reads back as errno %#x, want %#x", code, uint(packed), uint(plainErrno(packed)), uint(errno))
		}
		err := errnoCode(packed).err()
		if errno == syscall.ECANCELED {
			if !errors.Is(err, ErrCanceled) {
				t.Fatalf("code %d (ECANCELED): delivered %v, want ErrCanceled", code, err)
			}
			continue
		}
		var we *WindowsError
		if !errors.As(err, &we) || we.Errno != errno || we.Code != code {
			t.Fatalf("code %d: delivered %#v, want a *WindowsError{%#x, %d}", code, err, uint(errno), code)
		}
		if !errors.Is(err, errno) || !errors.Is(err, code) {
			t.Fatalf("code %d: errors.Is(%v) fails for the errno or the code", code, err)
		}
		if allocs := testing.AllocsPerRun(100, func() { _ = errnoCode(packed).err() }); allocs != 0 {
			t.Fatalf("code %d: delivering its error again allocated %v times", code, allocs)
		}
	}
	if err := errnoCode(withWindowsCode(syscall.EACCES, errorAccessDenied)).err(); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("ERROR_ACCESS_DENIED delivered as %v, which is not os.ErrPermission", err)
	}
	if got := withWindowsCode(syscall.ECONNRESET, 0); got != syscall.ECONNRESET {
		t.Fatalf("an errno with no code was packed: %#x", uint(got))
	}
}

// A failed overlapped call's callback gets the Windows code: a connect to
// a closed port is ECONNREFUSED, from ERROR_CONNECTION_REFUSED or
// WSAECONNREFUSED.
func TestWindowsErrorFromTheKernel(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "the simulator has no Windows codes")
		closedPort := closedTCPPort(t, l)
		fd := tcpSocket(t, l, closedPort)
		var r opResult
		var c Completion
		Connect(l, &c, fd, closedPort, &r, (*opResult).onErr)
		await(t, l, &r)
		wantErr(t, "Connect to a closed port", &r, syscall.ECONNREFUSED)
		var we *WindowsError
		if !errors.As(r.err, &we) {
			t.Fatalf("Connect to a closed port: %#v, want a *WindowsError", r.err)
		}
		if we.Code != windows.ERROR_CONNECTION_REFUSED && we.Code != windows.WSAECONNREFUSED {
			t.Fatalf("Connect to a closed port: Windows code %d (%v), want ERROR_CONNECTION_REFUSED or WSAECONNREFUSED", uint(we.Code), we.Code)
		}
		t.Logf("Connect to a closed port: %v", r.err)
	})
}

// The functions that return an error directly keep the Windows code too:
// a second ListenTCP on a port in use is EADDRINUSE from WSAEADDRINUSE.
func TestWindowsErrorFromListenTCP(t *testing.T) {
	fd, bound, err := ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, fd)
	fd2, _, err := ListenTCP(bound, ListenOptions{})
	if err == nil {
		closeOnCleanup(t, fd2)
		t.Fatalf("a second ListenTCP on %v succeeded", bound)
	}
	var we *WindowsError
	if !errors.Is(err, syscall.EADDRINUSE) || !errors.As(err, &we) || we.Code != windows.WSAEADDRINUSE {
		t.Fatalf("a second ListenTCP on %v: %#v, want a *WindowsError{EADDRINUSE, WSAEADDRINUSE}", bound, err)
	}
}

// The file operations the workers run keep the Windows code too: OpenAt
// in a missing directory is ENOENT from ERROR_PATH_NOT_FOUND, Mkdirat of
// an existing directory EEXIST from ERROR_ALREADY_EXISTS. (A missing file
// is ERROR_FILE_NOT_FOUND, which is Go's syscall.ENOENT on Windows
// itself: that error is the code.)
func TestWindowsErrorFromTheWorkers(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "the simulator has no Windows codes")
		dir := kernelTempDir(t)
		var r opResult
		var c Completion
		OpenAt(l, &c, sysAT_FDCWD, dir+`\missing\file`, sysO_RDONLY, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		var we *WindowsError
		if !errors.Is(r.err, syscall.ENOENT) || !errors.As(r.err, &we) || we.Code != windows.ERROR_PATH_NOT_FOUND {
			t.Fatalf("OpenAt in a missing directory: %#v, want a *WindowsError{ENOENT, ERROR_PATH_NOT_FOUND}", r.err)
		}
		r = opResult{}
		Mkdirat(l, &c, sysAT_FDCWD, dir, 0o755, &r, (*opResult).onErr)
		await(t, l, &r)
		if !errors.Is(r.err, syscall.EEXIST) || !errors.As(r.err, &we) || we.Code != windows.ERROR_ALREADY_EXISTS {
			t.Fatalf("Mkdirat of an existing directory: %#v, want a *WindowsError{EEXIST, ERROR_ALREADY_EXISTS}", r.err)
		}
	})
}
