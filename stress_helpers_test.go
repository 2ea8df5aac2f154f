package ioloop

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

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

// setSndBuf sets SO_SNDBUF on a socket of the kernel. The simulator has a
// fixed buffer per direction of a connection (256 KiB by default), and
// nothing to set.
func (f *testFDs) setSndBuf(fd, size int) {
	f.t.Helper()
	if !f.simulated() {
		stressSetsockopt(f.t, fd, testSO_SNDBUF, size)
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
		stressSetsockopt(f.t, fd, testSO_RCVBUF, size)
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

// withLowGCPercent makes the collector run often for the rest of the test
// (the GC safety tests).
func withLowGCPercent(t *testing.T) {
	old := debug.SetGCPercent(1)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

// gcSink keeps poison reachable until the next poisoning.
var gcSink [][]byte

// collectAndPoison collects garbage and then allocates objects of the
// sizes the tests use, filled with a poison byte, so that memory freed by
// mistake is reused and any kernel write into it, or any read of it,
// shows.
func collectAndPoison() {
	runtime.GC()
	gcSink = gcSink[:0]
	for _, size := range []int{16, 100, 512, 1000, 2996, 4096, int(unsafe.Sizeof(Completion{})), int(unsafe.Sizeof(statxBuffer{}))} {
		for i := 0; i < 16; i++ {
			b := make([]byte, size)
			for j := range b {
				b[j] = 0xA5
			}
			gcSink = append(gcSink, b)
		}
	}
}

// drainThroughLoop is stressDrain with the loop's own Recv: it lets what
// is on its way arrive (simSettle), then receives until a Recv finds
// nothing (it is canceled), the end of stream, or an error.
func drainThroughLoop(t testing.TB, l *Loop, fd int, buf, into []byte) []byte {
	t.Helper()
	simSettle(t, l)
	for {
		var r, cr opResult
		var c, cc Completion
		Recv(l, &c, fd, buf, &r, (*opResult).onCount)
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
