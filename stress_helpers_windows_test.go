package ioloop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// This file is stress_helpers_test.go for Windows (that one is Unix-only):
// the same helpers, with Winsock calls, and with reads and writes from
// outside the loop done through the loop, as the simulator does them (the
// test's sockets belong to the loop's completion port). Kept in step with
// stress_helpers_test.go by hand.
//
// Shared helpers for the loop-level tests (conformance_*_test.go, whitebox_gc_safety_test.go).

// forEachBackendNoLoop runs fn as a subtest per backend without creating a
// loop, for tests that must observe the process before the loop exists
// (file descriptor counts) or create several loops.
func forEachBackendNoLoop(t *testing.T, fn func(t *testing.T, backend Backend)) {
	t.Helper()
	for _, backend := range testBackends(t) {
		t.Run(backend.String(), func(t *testing.T) { fn(t, backend) })
	}
}

// testFDs tracks file descriptors a test opens and closes whatever is still
// open when the test ends, so that a failing test does not leak them into
// the next one. Its descriptors belong to l: on the simulator, to the
// loop's node, where cleanup is left to the world.
type testFDs struct {
	t    testing.TB
	l    *Loop
	open map[int]bool
}

func newTestFDs(t testing.TB, l *Loop) *testFDs {
	fds := &testFDs{t: t, l: l, open: map[int]bool{}}
	t.Cleanup(func() {
		if fds.simulated() {
			return
		}
		for fd := range fds.open {
			sysCloseFD(fd)
		}
	})
	return fds
}

func (f *testFDs) simulated() bool { return f.l != nil && simOf(f.l) != nil }

func (f *testFDs) add(fd int) int {
	f.open[fd] = true
	return fd
}

// close closes fd now (once), as a program would outside the loop (on the
// simulator, through the loop, unless it is closed).
func (f *testFDs) close(fd int) {
	f.t.Helper()
	if !f.open[fd] {
		f.t.Fatalf("closing fd %d twice or not tracked", fd)
	}
	delete(f.open, fd)
	if f.simulated() && f.l.closed {
		return
	}
	if err := closeFD(f.t, f.l, fd); err != nil {
		f.t.Errorf("close(%d): %v", fd, err)
	}
}

// socketPair returns a connected stream socket pair: on Windows, as on the
// simulator, a loopback TCP pair through the loop (ioloop has no unix
// sockets on Windows).
func (f *testFDs) socketPair() (a, b int) {
	f.t.Helper()
	return f.tcpPair(f.l, 0, 0)
}

// setSndBuf sets SO_SNDBUF on a socket of the kernel. The simulator has a
// fixed buffer per direction of a connection (256 KiB by default), and
// nothing to set.
func (f *testFDs) setSndBuf(fd, size int) {
	f.t.Helper()
	if !f.simulated() {
		stressSetsockopt(f.t, fd, windows.SO_SNDBUF, size)
	}
}

// simSocketBufBytes is how many bytes one direction of a simulated
// connection holds (0 on the kernel backends).
func simSocketBufBytes(l *Loop) int {
	if l == nil || simOf(l) == nil {
		return 0
	}
	return simOf(l).world.Config().SocketBufBytes
}

// setRcvBuf is setSndBuf for SO_RCVBUF.
func (f *testFDs) setRcvBuf(fd, size int) {
	f.t.Helper()
	if !f.simulated() {
		stressSetsockopt(f.t, fd, windows.SO_RCVBUF, size)
	}
}

// tcpPair returns a connected loopback TCP pair (client, server), both
// non-blocking, established through the loop's own Connect and Accept.
// sndBuf/rcvBuf, when non-zero, are set on the client's send buffer and
// the server's receive buffer (the listener's, which accepted sockets
// inherit) before the connection exists, so the window stays small.
func (f *testFDs) tcpPair(l *Loop, sndBuf, rcvBuf int) (client, server int) {
	f.t.Helper()
	lfd, bound, err := l.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ListenOptions{Backlog: 8})
	if err != nil {
		f.t.Fatalf("ListenTCP: %v", err)
	}
	f.add(lfd)
	defer f.close(lfd)
	if rcvBuf > 0 {
		f.setRcvBuf(lfd, rcvBuf)
	}
	cfd, err := l.TCPSocket(bound)
	if err != nil {
		f.t.Fatalf("TCPSocket: %v", err)
	}
	f.add(cfd)
	if sndBuf > 0 {
		f.setSndBuf(cfd, sndBuf)
	}
	var st tcpPairState
	var ac, cc Completion
	Accept(l, &ac, lfd, &st, (*tcpPairState).onAccept)
	Connect(l, &cc, cfd, bound, &st, (*tcpPairState).onConnect)
	runUntil(f.t, l, 3*time.Second, func() bool { return st.accepted && st.connected })
	if st.acceptErr != nil || st.connErr != nil {
		f.t.Fatalf("accept: %v, connect: %v", st.acceptErr, st.connErr)
	}
	return cfd, f.add(st.sfd)
}

type tcpPairState struct {
	accepted, connected bool
	sfd                 int
	acceptErr, connErr  error
}

func (st *tcpPairState) onAccept(_ *Completion, fd int, err error) {
	st.accepted, st.sfd, st.acceptErr = true, fd, err
}

func (st *tcpPairState) onConnect(_ *Completion, err error) {
	st.connected, st.connErr = true, err
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
	{
		simSettle(t, l)
		for {
			var r, cr opResult
			var c, cc Completion
			Recv(l, &c, fd, buf[:], &r, (*opResult).onCount)
			if err := l.Tick(); err != nil {
				t.Fatal(err)
			}
			if !r.done() {
				Cancel(l, &cc, &c, &cr, (*opResult).onErr)
				runUntil(t, l, waitLimit, func() bool { return r.done() && cr.done() })
			}
			switch {
			case r.err == nil && r.n > 0:
				into = append(into, buf[:r.n]...)
			case r.err == nil, r.err == io.EOF, r.err == ErrCanceled:
				return into
			default:
				t.Fatalf("read(%d): %v", fd, r.err)
			}
		}
	}
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

var (
	procIoctlsocket = windows.NewLazySystemDLL("ws2_32.dll").NewProc("ioctlsocket")
	procRecv        = windows.NewLazySystemDLL("ws2_32.dll").NewProc("recv")
)

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

// mustPanicWith runs fn and fails unless it panics with a message containing
// every string in want. It returns the message.
func mustPanicWith(t testing.TB, fn func(), want ...string) (msg string) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic; want one mentioning %q", want)
		}
		msg = fmt.Sprint(r)
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Fatalf("panic %q does not mention %q", msg, w)
			}
		}
	}()
	fn()
	return ""
}

// stressPatternByte is the byte at position i of the deterministic stream seed.
func stressPatternByte(seed uint64, i int) byte {
	x := seed*0x9E3779B97F4A7C15 + uint64(i)*0xBF58476D1CE4E5B9
	x ^= x >> 29
	return byte(x ^ x>>17)
}

func fillStressPattern(buf []byte, seed uint64, start int) {
	for i := range buf {
		buf[i] = stressPatternByte(seed, start+i)
	}
}

// firstStressMismatch returns the index of the first byte of buf that differs
// from the pattern, or -1.
func firstStressMismatch(buf []byte, seed uint64, start int) int {
	for i := range buf {
		if buf[i] != stressPatternByte(seed, start+i) {
			return i
		}
	}
	return -1
}

// isOneOf reports whether err is one of errnos by errors.Is semantics.
func isOneOf(err error, errnos ...syscall.Errno) bool {
	for _, e := range errnos {
		if err != nil && errors.Is(err, e) {
			return true
		}
	}
	return false
}

// simOf returns the loop's simulator backend, or nil on other backends;
// tests use it to reach the simulated node behind a loop.
func simOf(l *Loop) *simBackend {
	b, _ := l.backend.(*simBackend)
	return b
}

// runShort drives l in short slices until done() or the time limit. It is
// runUntil for tests of many rounds, where 10 ms slices would dominate.
func runShort(t testing.TB, l *Loop, limit time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for the loop", limit)
		}
		if err := l.RunFor(100 * time.Microsecond); err != nil {
			t.Fatalf("RunFor: %v", err)
		}
	}
}

// startedInKernel gives the loop time to hand submitted operations to the
// kernel (as in conformance_stress_test.go).
func startedInKernel(t *testing.T, l *Loop) {
	t.Helper()
	if err := l.RunFor(20 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

// cancelAndWait cancels target and waits for both callbacks (as in
// conformance_edges_test.go).
func cancelAndWait(t *testing.T, l *Loop, target *Completion, r *opResult) {
	t.Helper()
	var cancel opResult
	var cc Completion
	Cancel(l, &cc, target, &cancel, (*opResult).onErr)
	await(t, l, &cancel, r)
	wantOK(t, "Cancel", &cancel)
	wantErr(t, "canceled operation", r, ErrCanceled)
}

// stopOnFire is a Timeout context that stops its loop when it fires (as
// in conformance_edges_test.go).
type stopOnFire struct {
	opResult
	l *Loop
}

func (s *stopOnFire) onFire(c *Completion, err error) {
	s.onErr(c, err)
	s.l.Stop()
}

// hugeReader drains a socket through the loop and checks every byte
// against the buffer being sent (as in conformance_net_test.go).
type hugeReader struct {
	loop   *Loop
	fd     int
	buf    []byte
	want   []byte
	got    int
	err    error
	differ int // stream offset of the first difference, or -1
	c      Completion
}

func (r *hugeReader) onRecv(_ *Completion, n int, err error) {
	if err != nil {
		r.err = err
		return
	}
	if r.got+n > len(r.want) || !bytes.Equal(r.buf[:n], r.want[r.got:r.got+n]) {
		if r.differ < 0 {
			r.differ = r.got
		}
	}
	r.got += n
	Recv(r.loop, &r.c, r.fd, r.buf, r, (*hugeReader).onRecv)
}
