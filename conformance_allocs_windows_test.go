package ioloop

import (
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The Windows side of conformance_allocs_test.go: the peer's plain Winsock
// calls. The Linux-only operations (Statx, SyncFileRange) do not exist
// here, and no loop has io_uring's worker fallback or doorbell.

// fionread is FIONREAD (_IOR('f', 127, u_long)): the bytes a socket could
// receive at once.
const fionread = 0x4004667f

// peerSend sends b on the socket fd with a WSASend without an OVERLAPPED,
// outside the loop: it returns when Winsock has taken b (nothing else
// sends on fd meanwhile).
func peerSend(fd int, b []byte) (int, error) {
	buf := wsaBuf(b)
	var sent uint32
	if err := windows.WSASend(windows.Handle(fd), &buf, 1, &sent, 0, nil, nil); err != nil {
		return int(sent), windowsErrno(err)
	}
	return int(sent), nil
}

// peerRecv receives into b from the socket fd outside the loop, without
// blocking, as read(2) of a non-blocking socket: EAGAIN when nothing is
// there. The loop's sockets are blocking ones (their overlapped calls
// never block), so it asks FIONREAD first and receives only what is there.
func peerRecv(fd int, b []byte) (int, error) {
	s := windows.Handle(fd)
	var avail, returned uint32
	if err := windows.WSAIoctl(s, fionread, nil, 0, (*byte)(unsafe.Pointer(&avail)), 4, &returned, nil, 0); err != nil {
		return 0, windowsErrno(err)
	}
	if avail == 0 {
		return 0, syscall.EAGAIN
	}
	buf := wsaBuf(b[:min(len(b), int(avail))])
	var got, flags uint32
	if err := windows.WSARecv(s, &buf, 1, &got, &flags, nil, nil); err != nil {
		return int(got), windowsErrno(err)
	}
	return int(got), nil
}

// fileopsAllocCasesOS are TestAllocsFileops's system-specific cases: none
// on Windows.
func fileopsAllocCasesOS(*Loop, int) []allocCase { return nil }

// wantDoorbellRung checks io_uring's MSG_RING doorbell, which Windows
// lacks: there is nothing to check.
func wantDoorbellRung(*testing.T, *Loop, *Loop) {}
