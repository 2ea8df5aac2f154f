//go:build !windows

package ioloop

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The helpers of stress_helpers_test.go that differ by system, for Unix
// (stress_helpers_windows_test.go has Windows' own).

// Socket options the portable helpers set.
const (
	testSO_SNDBUF = unix.SO_SNDBUF
	testSO_RCVBUF = unix.SO_RCVBUF
)

// socketPair returns a connected, non-blocking AF_UNIX stream socket pair;
// on the simulator, which has no unix sockets, a TCP pair through the loop.
func (f *testFDs) socketPair() (a, b int) {
	f.t.Helper()
	if f.simulated() {
		return f.tcpPair(f.l, 0, 0)
	}
	fds, err := nonblockingSocketpair()
	if err != nil {
		f.t.Fatalf("socketpair: %v", err)
	}
	return f.add(fds[0]), f.add(fds[1])
}

func stressSetsockopt(t testing.TB, fd, opt, value int) {
	t.Helper()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, value); err != nil {
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
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
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
	if err := unix.Shutdown(fd, how); err != nil {
		t.Fatalf("shutdown(%d): %v", fd, err)
	}
}

// stressWrite writes data to the socket fd in one write(2), which must
// take all of it (on the simulator: with the loop's Send, until it has
// arrived).
func stressWrite(t testing.TB, l *Loop, fd int, data []byte) {
	t.Helper()
	if l != nil && simOf(l) != nil {
		writeAll(t, l, fd, data)
		return
	}
	n, err := unix.Write(fd, data)
	if err != nil || n != len(data) {
		t.Fatalf("write(%d): %d, %v", fd, n, err)
	}
}

// stressDrain reads everything currently readable from fd (on the
// simulator: everything that arrives within simSettleTime, with the loop's
// Recv).
func stressDrain(t testing.TB, l *Loop, fd int, into []byte) []byte {
	t.Helper()
	var buf [64 << 10]byte
	if l != nil && simOf(l) != nil {
		return drainThroughLoop(t, l, fd, buf[:], into)
	}
	for {
		n, err := unix.Read(fd, buf[:])
		if n > 0 {
			into = append(into, buf[:n]...)
			continue
		}
		if err == unix.EAGAIN || n == 0 && err == nil {
			return into
		}
		if err != nil {
			t.Fatalf("read(%d): %v", fd, err)
		}
	}
}

// openFDs lists the process's open file descriptors with their targets.
func openFDs(t testing.TB) map[string]string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("reading /proc/self/fd: %v", err)
	}
	fds := make(map[string]string, len(entries))
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fds[e.Name()] = target
	}
	return fds
}

// checkNoFDLeak compares two openFDs snapshots. A descriptor is new when
// its number or what it refers to differs; the one ReadDir itself used is
// closed by the time it is resolved, and has no target.
func checkNoFDLeak(t testing.TB, before, after map[string]string) {
	t.Helper()
	var leaked []string
	for fd, target := range after {
		if target != "" && before[fd] != target {
			leaked = append(leaked, fd+" -> "+target)
		}
	}
	if len(leaked) > 0 {
		t.Errorf("file descriptors leaked: %s", strings.Join(leaked, ", "))
	}
}

// rawWrite is write(2) on fd, from outside the loop (any goroutine).
func rawWrite(fd int, b []byte) (int, error) { return unix.Write(fd, b) }

// rawReadNonblocking is read(2) on the non-blocking socket fd, from
// outside the loop (any goroutine): EAGAIN when nothing is there.
func rawReadNonblocking(fd int, buf []byte) (int, error) { return unix.Read(fd, buf) }

// dupSocket returns another descriptor of the socket fd (dup(2)), to be
// closed by the caller.
func dupSocket(fd int) (int, error) { return unix.Dup(fd) }

// nonblockingPipe returns a non-blocking, close-on-exec pipe, closed at
// cleanup.
func nonblockingPipe(t testing.TB, l *Loop) (readEnd, writeEnd int) {
	t.Helper()
	var p [2]int
	if err := testPipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, p[0])
	closeOnCleanup(t, p[1])
	return p[0], p[1]
}

// sameDevice reports whether paths a and b are on one device (or cannot
// be told apart).
func sameDevice(a, b string) bool {
	var sa, sb unix.Stat_t
	return unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil || sa.Dev == sb.Dev
}

// fillPipe fills the non-blocking pipe's write end w and returns how many
// bytes it took.
func fillPipe(t testing.TB, w int) int {
	t.Helper()
	filled, err := unix.Write(w, make([]byte, 1<<20))
	if err != nil {
		t.Fatalf("filling the pipe: %v", err)
	}
	return filled
}

// drainPipe reads n bytes from the non-blocking pipe's read end r.
func drainPipe(t testing.TB, r, n int) []byte { return readAllNonblocking(t, nil, r, n) }

// pipeWrite writes b into the pipe's write end w, outside any loop.
func pipeWrite(t testing.TB, w int, b []byte) { writeAll(t, nil, w, b) }
