package ioloop

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Shared helpers of the per-operation conformance tests (ops_*_test.go,
// conformance_allocs_test.go). Those that take the test's Loop work on every backend:
// on the simulator they act on the loop's simulated node (its sockets and
// file system) instead of the kernel.

// waitLimit bounds every wait on the kernel in the conformance tests.
const waitLimit = 5 * time.Second

// badFD is a descriptor number that is never open: it is above the
// process's RLIMIT_NOFILE, so every backend's syscall (or io_uring's fget)
// fails with EBADF.
const badFD = 1 << 24

// opResult records the callbacks of one operation. Its methods are used as
// method expressions ((*opResult).onCount, (*opResult).onErr) with the
// *opResult as ctx: the documented allocation-free shape.
type opResult struct {
	calls int
	n     int
	err   error
	c     *Completion
	at    time.Time // when the callback ran, by the loop's clock (Loop.Now)
	seq   int       // order among all callbacks of the test binary
}

// callbackSeq numbers callbacks in the order they run.
var callbackSeq int

func (r *opResult) onCount(c *Completion, n int, err error) {
	r.calls++
	r.n, r.err, r.c = n, err, c
	r.at = c.loop.Now()
	callbackSeq++
	r.seq = callbackSeq
}

func (r *opResult) onErr(c *Completion, err error) {
	r.calls++
	r.n, r.err, r.c = 0, err, c
	r.at = c.loop.Now()
	callbackSeq++
	r.seq = callbackSeq
}

func (r *opResult) done() bool { return r.calls > 0 }

// await drives l until every r has its callback, then runs one more pass
// and checks that none was called twice.
func await(t testing.TB, l *Loop, rs ...*opResult) {
	t.Helper()
	runUntil(t, l, waitLimit, func() bool {
		for _, r := range rs {
			if !r.done() {
				return false
			}
		}
		return true
	})
	if err := l.Tick(); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	for i, r := range rs {
		if r.calls != 1 {
			t.Fatalf("operation %d: callback ran %d times, want exactly once", i, r.calls)
		}
	}
}

// wantOK fails unless r completed once with a nil error.
func wantOK(t testing.TB, what string, r *opResult) {
	t.Helper()
	if r.calls != 1 || r.err != nil {
		t.Fatalf("%s: calls=%d n=%d err=%v, want one call with a nil error", what, r.calls, r.n, r.err)
	}
}

// wantN fails unless r completed once with n == want and a nil error.
func wantN(t testing.TB, what string, r *opResult, want int) {
	t.Helper()
	if r.calls != 1 || r.err != nil || r.n != want {
		t.Fatalf("%s: calls=%d n=%d err=%v, want n=%d and a nil error", what, r.calls, r.n, r.err, want)
	}
}

// wantErr fails unless r completed once with an error matching target.
func wantErr(t testing.TB, what string, r *opResult, target error) {
	t.Helper()
	if r.calls != 1 || !errors.Is(r.err, target) {
		t.Fatalf("%s: calls=%d n=%d err=%v (%T), want %v", what, r.calls, r.n, r.err, r.err, target)
	}
}

// closeOnCleanup closes fd, a kernel descriptor, when the test ends,
// unless the test closed it first with closeFD or said so with disownFD.
func closeOnCleanup(t testing.TB, fd int) {
	t.Helper()
	if fd < 0 {
		t.Fatalf("closeOnCleanup: invalid fd %d", fd)
	}
	owned := &cleanupOwned{}
	id, known := fdIdentity(fd)
	cleanupFDs.Lock()
	cleanupFDs.of[fd] = owned
	cleanupFDs.Unlock()
	t.Cleanup(func() {
		cleanupFDs.Lock()
		disowned := owned.disowned
		if cleanupFDs.of[fd] == owned {
			delete(cleanupFDs.of, fd)
		}
		cleanupFDs.Unlock()
		if disowned {
			return
		}
		// A descriptor the test closed itself must not be closed again
		// here: its number may by now be another file's. On Windows the
		// Go runtime takes freed handle values for its own events, and
		// closing one of those kills the process ("setevent failed").
		// Unix can tell, so the shared tests are checked here.
		if now, ok := fdIdentity(fd); known && (!ok || now != id) {
			t.Errorf("fd %d was closed before the test ended, and closeOnCleanup would close it again: close it with closeFD, or call disownFD after closing it otherwise", fd)
			return
		}
		sysCloseFD(fd)
	})
}

// cleanupOwned is one closeOnCleanup's claim on a descriptor.
type cleanupOwned struct{ disowned bool }

// cleanupFDs maps each kernel descriptor that a cleanup will close to
// that cleanup's claim. Tests do not run in parallel; the lock is for
// the goroutines some of them start.
var cleanupFDs = struct {
	sync.Mutex
	of map[int]*cleanupOwned
}{of: make(map[int]*cleanupOwned)}

// disownFD tells the cleanup that would close fd not to: the test closed
// it, or had it closed (by the Close operation or Loop.Close).
func disownFD(fd int) {
	cleanupFDs.Lock()
	if owned := cleanupFDs.of[fd]; owned != nil {
		owned.disowned = true
		delete(cleanupFDs.of, fd)
	}
	cleanupFDs.Unlock()
}

// ownFD is closeOnCleanup for a descriptor of l: on the simulator it
// belongs to the loop's simulated node, which goes away with the test's
// world, and it must never reach close(2), where the number means another
// file of the test process.
func ownFD(t testing.TB, l *Loop, fd int) {
	t.Helper()
	if fd < 0 {
		t.Fatalf("ownFD: invalid fd %d", fd)
	}
	if l == nil || simOf(l) == nil {
		closeOnCleanup(t, fd)
	}
}

// trackedFD is an fd that the test may close itself (with the Close
// operation); the cleanup closes it only if the test did not.
type trackedFD struct {
	l      *Loop // nil: a kernel descriptor
	fd     int
	closed bool
}

func trackFD(t testing.TB, l *Loop, fd int) *trackedFD {
	t.Helper()
	if fd < 0 {
		t.Fatalf("trackFD: invalid fd %d", fd)
	}
	f := &trackedFD{l: l, fd: fd}
	t.Cleanup(func() {
		if !f.closed && (l == nil || simOf(l) == nil) {
			sysCloseFD(f.fd)
		}
	})
	return f
}

// close closes the fd now, as a peer outside the loop would (on the
// simulator, through the loop, waiting until the peer could know); the
// cleanup will not close it again.
func (f *trackedFD) close(t testing.TB) {
	t.Helper()
	if f.closed {
		t.Fatalf("fd %d closed twice", f.fd)
	}
	f.closed = true
	if err := closeFD(t, f.l, f.fd); err != nil {
		t.Fatalf("close(%d): %v", f.fd, err)
	}
}

// closeFD closes fd now: with close(2) on the kernel backends, and with
// the Close operation on the simulator, after which it lets the network
// carry the FIN or RST to the peer, as loopback does at once.
func closeFD(t testing.TB, l *Loop, fd int) error {
	t.Helper()
	if l == nil || simOf(l) == nil {
		disownFD(fd)
		return sysCloseFD(fd)
	}
	var r opResult
	var c Completion
	Close(l, &c, fd, &r, (*opResult).onErr)
	runUntil(t, l, waitLimit, r.done)
	simSettle(t, l)
	return r.err
}

// simSettleTime is longer than any one-way delay of the simulated
// network (faults off): after it, what was sent has arrived.
const simSettleTime = time.Millisecond

// simSettle runs a simulated loop until whatever is on the simulated wire
// has arrived, which on loopback is at once. It does nothing on the kernel
// backends.
func simSettle(t testing.TB, l *Loop) {
	t.Helper()
	if l == nil || simOf(l) == nil {
		return
	}
	if err := l.RunFor(simSettleTime); err != nil {
		t.Fatalf("RunFor: %v", err)
	}
}

// fdIsOpen reports whether fd is an open descriptor (fcntl F_GETFD; on
// the simulator, whether the node knows the number).
func fdIsOpen(t testing.TB, l *Loop, fd int) bool {
	t.Helper()
	if l != nil && simOf(l) != nil {
		_, err := l.LocalAddr(fd) // ENOTSOCK for an open file
		return !errors.Is(err, syscall.EBADF)
	}
	_, err := sysFcntlGetfd(fd)
	switch {
	case err == nil:
		return true
	case errors.Is(err, syscall.EBADF):
		return false
	}
	t.Fatalf("fcntl(%d, F_GETFD): %v", fd, err)
	return false
}

var (
	loopback4 = netip.MustParseAddrPort("127.0.0.1:0")
	loopback6 = netip.MustParseAddrPort("[::1]:0")
)

// loopbacks returns the loopback listen addresses to test: IPv4 always,
// IPv6 when ::1 can be bound on this machine (always on the simulator).
func loopbacks(t testing.TB, l *Loop) []netip.AddrPort {
	t.Helper()
	addrs := []netip.AddrPort{loopback4}
	if l != nil && simOf(l) != nil {
		return append(addrs, loopback6)
	}
	if fd, _, err := ListenTCP(loopback6, ListenOptions{}); err == nil {
		sysCloseFD(fd)
		addrs = append(addrs, loopback6)
	} else {
		t.Logf("IPv6 loopback unavailable (%v); testing IPv4 only", err)
	}
	return addrs
}

// listenTCP opens a listener of l on addr (port 0) that is closed at
// cleanup.
func listenTCP(t testing.TB, l *Loop, addr netip.AddrPort) (int, netip.AddrPort) {
	t.Helper()
	fd, bound, err := l.ListenTCP(addr, ListenOptions{})
	if err != nil {
		t.Fatalf("ListenTCP(%v): %v", addr, err)
	}
	ownFD(t, l, fd)
	return fd, bound
}

// tcpSocket opens a TCP socket of l for addr that is closed at cleanup.
func tcpSocket(t testing.TB, l *Loop, addr netip.AddrPort) int {
	t.Helper()
	fd, err := l.TCPSocket(addr)
	if err != nil {
		t.Fatalf("TCPSocket(%v): %v", addr, err)
	}
	ownFD(t, l, fd)
	return fd
}

// tcpPair returns a connected loopback TCP pair (client, server), both
// non-blocking and closed at cleanup, established through the loop's
// Connect and Accept.
func tcpPair(t testing.TB, l *Loop, addr netip.AddrPort) (client, server int) {
	t.Helper()
	c, s := tcpPairTracked(t, l, addr)
	return c.fd, s.fd
}

// tcpPairTracked is tcpPair for tests that close one end themselves.
func tcpPairTracked(t testing.TB, l *Loop, addr netip.AddrPort) (client, server *trackedFD) {
	t.Helper()
	lfd, bound := listenTCP(t, l, addr)
	return connectTo(t, l, lfd, bound)
}

// connectTo connects a new TCP socket to the listener lfd at bound and
// accepts it, through the loop. Both fds are closed at cleanup unless the
// test closes them first.
func connectTo(t testing.TB, l *Loop, lfd int, bound netip.AddrPort) (client, server *trackedFD) {
	t.Helper()
	cfd, err := l.TCPSocket(bound)
	if err != nil {
		t.Fatalf("TCPSocket(%v): %v", bound, err)
	}
	client = trackFD(t, l, cfd)
	var accept, connect opResult
	var ac, cc Completion
	Accept(l, &ac, lfd, &accept, (*opResult).onCount)
	Connect(l, &cc, cfd, bound, &connect, (*opResult).onErr)
	await(t, l, &accept, &connect)
	wantOK(t, "Connect", &connect)
	if accept.err != nil || accept.n < 0 {
		t.Fatalf("Accept: fd=%d err=%v", accept.n, accept.err)
	}
	return client, trackFD(t, l, accept.n)
}

// tempDir returns a new, empty directory for the test's files:
// kernelTempDir on the kernel backends; on the simulator, a directory unique to the test
// created on the loop's node (durably, as if its parent had been synced).
func tempDir(t testing.TB, l *Loop) string {
	t.Helper()
	if l != nil && simOf(l) != nil {
		simTempDirs++
		dir := fmt.Sprintf("/tmp/iol%d", simTempDirs)
		if errno := simOf(l).node.MkdirAll(dir); errno != 0 {
			t.Fatalf("mkdir %s on the simulated node: %v", dir, errno)
		}
		return dir
	}
	return kernelTempDir(t)
}

var simTempDirs int

// tempFile creates a file holding content and returns its path and an
// O_RDWR descriptor, closed at cleanup: in t.TempDir on the kernel
// backends (l nil: always), in the simulated node's file system on the
// simulator, created from outside the loop in both cases.
func tempFile(t testing.TB, l *Loop, content []byte) (string, int) {
	t.Helper()
	path := filepath.Join(tempDir(t, l), "data")
	if l != nil && simOf(l) != nil {
		simOf(l).node.WriteFile(path, content)
		return path, openFile(t, l, path, sysO_RDWR)
	}
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, openFile(t, l, path, sysO_RDWR)
}

// openFile opens path with openKernelFile (on the simulator, directly on
// the node) with flags O_RDONLY, O_WRONLY or O_RDWR, closed at cleanup.
func openFile(t testing.TB, l *Loop, path string, flags int) int {
	t.Helper()
	if l != nil && simOf(l) != nil {
		fd, errno := simOf(l).node.Open(path, simOpenFlags(uint32(flags)))
		if errno != 0 {
			t.Fatalf("open %s: %v", path, errno)
		}
		return fd
	}
	fd := openKernelFile(t, path, flags)
	closeOnCleanup(t, fd)
	return fd
}

// wantFile fails unless the file at path holds exactly want.
func wantFile(t testing.TB, l *Loop, path string, want []byte) {
	t.Helper()
	var got []byte
	if l != nil && simOf(l) != nil {
		var ok bool
		if got, ok = simOf(l).node.ReadFile(path); !ok {
			t.Fatalf("%s does not exist", path)
		}
	} else {
		var err error
		if got, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s holds %q, want %q", path, got, want)
	}
}

// pattern returns n deterministic, non-repeating-looking bytes.
func pattern(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// stillPending runs l for d and fails if r's callback ran.
func stillPending(t testing.TB, l *Loop, d time.Duration, what string, r *opResult) {
	t.Helper()
	if err := l.RunFor(d); err != nil {
		t.Fatalf("RunFor: %v", err)
	}
	if r.calls != 0 {
		t.Fatalf("%s completed unexpectedly: n=%d err=%v", what, r.n, r.err)
	}
}

// acceptConnected runs an Accept on lfd together with the connection that
// connect submits (Connect or ConnectUnix with c and r), checks both
// succeed, and returns the accepted descriptor, closed at cleanup.
func acceptConnected(t *testing.T, l *Loop, lfd int, what string, connect func(c *Completion, r *opResult)) int {
	t.Helper()
	var accepted, connected opResult
	var ac, cc Completion
	Accept(l, &ac, lfd, &accepted, (*opResult).onCount)
	connect(&cc, &connected)
	await(t, l, &accepted, &connected)
	wantOK(t, what, &connected)
	if accepted.err != nil || accepted.n < 0 {
		t.Fatalf("Accept: fd=%d err=%v", accepted.n, accepted.err)
	}
	ownFD(t, l, accepted.n)
	return accepted.n
}

// skipOnIOCP skips the rest of a conformance test (or subtest) on the IOCP
// backend, for a reason that is Windows' or wine's; docs/ARCHITECTURE.md
// ("Windows") lists them.
func skipOnIOCP(t testing.TB, l *Loop, reason string) {
	t.Helper()
	if l.Backend() == BackendIOCP {
		t.Skip("iocp: " + reason)
	}
}

// skipOnIOCPUnderWine is skipOnIOCP for a reason that is wine's alone:
// on Windows itself the rest of the test runs.
func skipOnIOCPUnderWine(t testing.TB, l *Loop, reason string) {
	t.Helper()
	if l.Backend() == BackendIOCP && underWine() {
		t.Skip("iocp under wine: " + reason)
	}
}

// joinPath joins path elements for l's file system: with slashes on the
// simulator, whose paths are Unix paths on every system, with the
// system's separator elsewhere.
func joinPath(l *Loop, elem ...string) string {
	if l != nil && simOf(l) != nil {
		return path.Join(elem...)
	}
	return filepath.Join(elem...)
}
