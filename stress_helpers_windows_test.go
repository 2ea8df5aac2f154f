package ioloop

import (
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The helpers of stress_helpers_test.go that differ by system, for
// Windows (stress_helpers_unix_test.go has Unix's): Winsock calls, and
// reads and writes from outside the loop done through the loop, as the
// simulator does them (the test's sockets belong to the loop's completion
// port).

// Socket options the portable helpers set.
const (
	testSO_SNDBUF = windows.SO_SNDBUF
	testSO_RCVBUF = windows.SO_RCVBUF
)

var (
	procIoctlsocket = windows.NewLazySystemDLL("ws2_32.dll").NewProc("ioctlsocket")
	procRecv        = windows.NewLazySystemDLL("ws2_32.dll").NewProc("recv")
)

// socketPair returns a connected stream socket pair: on Windows, as on the
// simulator, a loopback TCP pair through the loop (ioloop has no unix
// sockets on Windows).
func (f *testFDs) socketPair() (a, b int) {
	f.t.Helper()
	return f.tcpPair(f.l, 0, 0)
}

func stressSetsockopt(t testing.TB, fd, opt, value int) {
	t.Helper()
	if err := windows.SetsockoptInt(windows.Handle(fd), windows.SOL_SOCKET, opt, value); err != nil {
		t.Fatalf("setsockopt(%d, %d): %v", fd, opt, err)
	}
}

// resetOnClose makes the next close(fd) send a TCP RST instead of a FIN
// (SO_LINGER with a zero timeout).
func resetOnClose(t testing.TB, l *Loop, fd int) {
	t.Helper()
	if l != nil && simOf(l) != nil {
		if errno := simOf(l).node.SetLingerZero(fd); errno != 0 {
			t.Fatalf("SO_LINGER: %v", errno)
		}
		return
	}
	if err := windows.SetsockoptLinger(windows.Handle(fd), windows.SOL_SOCKET, windows.SO_LINGER, &windows.Linger{Onoff: 1, Linger: 0}); err != nil {
		t.Fatalf("SO_LINGER: %v", err)
	}
}

// shutdownFD is shutdown(2) from outside the loop (on the simulator,
// through the loop, until the peer could know).
func shutdownFD(t testing.TB, l *Loop, fd, how int) {
	t.Helper()
	if l != nil && simOf(l) != nil {
		var r opResult
		var c Completion
		Shutdown(l, &c, fd, how, &r, (*opResult).onErr)
		runUntil(t, l, waitLimit, r.done)
		if r.err != nil {
			t.Fatalf("shutdown(%d): %v", fd, r.err)
		}
		simSettle(t, l)
		return
	}
	if err := windows.Shutdown(windows.Handle(fd), how); err != nil {
		t.Fatalf("shutdown(%d): %v", fd, err)
	}
}

// stressWrite writes data to the socket fd with the loop's Send, until it
// is sent.
func stressWrite(t testing.TB, l *Loop, fd int, data []byte) {
	t.Helper()
	writeAll(t, l, fd, data)
}

// stressDrain reads everything currently readable from fd (on the
// simulator: everything that arrives within simSettleTime, with the loop's
// Recv).
func stressDrain(t testing.TB, l *Loop, fd int, into []byte) []byte {
	t.Helper()
	var buf [64 << 10]byte
	if simOf(l) == nil && l.closed {
		return drainOutsideLoop(t, fd, buf[:], into)
	}
	return drainThroughLoop(t, l, fd, buf[:], into)
}

// drainOutsideLoop reads what fd holds with plain, non-blocking recv
// calls, for a socket whose loop has closed (it stays associated with the
// closed loop's port, so no other loop can take it over).
func drainOutsideLoop(t testing.TB, fd int, buf, into []byte) []byte {
	t.Helper()
	nonblocking := uint32(1)
	if r, _, err := procIoctlsocket.Call(uintptr(fd), fionbio, uintptr(unsafe.Pointer(&nonblocking))); r != 0 {
		t.Fatalf("ioctlsocket(FIONBIO): %v", err)
	}
	for {
		r, _, err := procRecv.Call(uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0)
		switch n := int32(r); {
		case n > 0:
			into = append(into, buf[:n]...)
		case n == 0 || errnoFromWindows(err.(syscall.Errno)) == syscall.EAGAIN:
			return into
		default:
			t.Fatalf("recv(%d): %v", fd, err)
		}
	}
}

// fionbio is FIONBIO, ioctlsocket's "non-blocking" command.
const fionbio = 0x8004667e

// openFDs counts the process's open handles (GetProcessHandleCount):
// Windows has no /proc/self/fd that says what each one is, so a snapshot
// is the count alone, and checkNoFDLeak compares counts.
func openFDs(t testing.TB) map[string]string {
	t.Helper()
	var count uint32
	if r, _, err := procGetProcessHandleCount.Call(uintptr(windows.CurrentProcess()), uintptr(unsafe.Pointer(&count))); r == 0 {
		t.Fatalf("GetProcessHandleCount: %v", err)
	}
	return map[string]string{"handles": strconv.FormatUint(uint64(count), 10)}
}

var procGetProcessHandleCount = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetProcessHandleCount")

// checkNoFDLeak compares two openFDs snapshots: more handles open after
// than before is a leak.
func checkNoFDLeak(t testing.TB, before, after map[string]string) {
	t.Helper()
	was, _ := strconv.Atoi(before["handles"])
	now, _ := strconv.Atoi(after["handles"])
	if now > was {
		t.Errorf("handles leaked: %d open before, %d after", was, now)
	}
}

var procSend = windows.NewLazySystemDLL("ws2_32.dll").NewProc("send")

// rawWrite is a plain (not overlapped) send on the socket fd, from outside
// the loop (any goroutine): Winsock allows it on a socket associated with
// a completion port, and it posts no packet.
func rawWrite(fd int, b []byte) (int, error) {
	r, _, err := procSend.Call(uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0)
	if int32(r) < 0 {
		return 0, errnoFromWindows(err.(syscall.Errno))
	}
	return int(int32(r)), nil
}

// rawReadNonblocking is a plain recv on the socket fd, made non-blocking
// first (FIONBIO; the loop's overlapped calls are not affected), from
// outside the loop: EAGAIN when nothing is there.
func rawReadNonblocking(fd int, buf []byte) (int, error) {
	nonblocking := uint32(1)
	if r, _, err := procIoctlsocket.Call(uintptr(fd), fionbio, uintptr(unsafe.Pointer(&nonblocking))); r != 0 {
		return 0, errnoFromWindows(err.(syscall.Errno))
	}
	r, _, err := procRecv.Call(uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)), 0)
	if int32(r) < 0 {
		return 0, errnoFromWindows(err.(syscall.Errno))
	}
	return int(int32(r)), nil
}

// dupSocket returns a new socket where Unix dups one: a Winsock socket is
// duplicated only through WSADuplicateSocket for another process, and the
// tests that call this need another open descriptor, not the same socket.
func dupSocket(fd int) (int, error) {
	addr, err := LocalAddr(fd)
	if err != nil {
		addr = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	return TCPSocket(addr)
}

// nonblockingPipe returns an anonymous pipe on Windows, whose handles
// are synchronous: the loop never calls them on its own goroutine, but on
// a worker (backend_iocp_sync_windows.go), so for the loop the pipe does
// not block, which is what the tests that ask for one need.
func nonblockingPipe(t testing.TB, l *Loop) (readEnd, writeEnd int) {
	t.Helper()
	var rh, wh windows.Handle
	if err := windows.CreatePipe(&rh, &wh, nil, 4096); err != nil {
		t.Fatal(err)
	}
	// Made outside the package: recorded as the package records its own
	// handles' births, since a loop that used a socket of an earlier
	// subtest with the same value would take the pipe for that socket
	// (handles_windows.go).
	noteHandleBorn(rh)
	noteHandleBorn(wh)
	closeOnCleanup(t, int(rh))
	closeOnCleanup(t, int(wh))
	return int(rh), int(wh)
}

// sameDevice reports whether paths a and b are on one volume (drive).
func sameDevice(a, b string) bool {
	return strings.EqualFold(filepath.VolumeName(a), filepath.VolumeName(b))
}

// fillPipe fills the pipe's write end w (PIPE_NOWAIT for the while, in
// 1 KiB steps: a write that does not fit whole writes nothing then) and
// returns how many bytes it took.
func fillPipe(t testing.TB, w int) int {
	t.Helper()
	h := windows.Handle(w)
	mode := uint32(windows.PIPE_NOWAIT)
	if err := windows.SetNamedPipeHandleState(h, &mode, nil, nil); err != nil {
		t.Fatalf("PIPE_NOWAIT: %v", err)
	}
	chunk := make([]byte, 1<<10)
	filled := 0
	for {
		var n uint32
		if err := windows.WriteFile(h, chunk, &n, nil); err != nil {
			t.Fatalf("filling the pipe: %v", err)
		}
		if n == 0 {
			break
		}
		filled += int(n)
	}
	mode = windows.PIPE_WAIT
	if err := windows.SetNamedPipeHandleState(h, &mode, nil, nil); err != nil {
		t.Fatalf("PIPE_WAIT: %v", err)
	}
	return filled
}

// drainPipe reads n bytes from the pipe's read end r, which holds them.
func drainPipe(t testing.TB, r, n int) []byte {
	t.Helper()
	out := make([]byte, n)
	for got := 0; got < n; {
		var m uint32
		if err := windows.ReadFile(windows.Handle(r), out[got:], &m, nil); err != nil {
			t.Fatalf("draining the pipe: %v after %d of %d bytes", err, got, n)
		}
		got += int(m)
	}
	return out
}

// pipeWrite writes b into the pipe's write end w, outside any loop.
func pipeWrite(t testing.TB, w int, b []byte) {
	t.Helper()
	var n uint32
	if err := windows.WriteFile(windows.Handle(w), b, &n, nil); err != nil || int(n) != len(b) {
		t.Fatalf("writing the pipe: %d of %d bytes, %v", n, len(b), err)
	}
}
