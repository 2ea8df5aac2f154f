package ioloop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSoak is the long-running soak test of issue 13, off by default:
//
//	IOLOOP_SOAK=60s go test -run TestSoak -v .            # 60 s on io_uring, then 60 s on epoll
//	IOLOOP_SOAK=30s go test -run 'TestSoak/epoll' -v .    # one backend
//
// IOLOOP_SOAK is the duration of the steady phase on each backend (CI uses
// 30s: about a minute in all). On each backend, ONE loop serves and is its
// own client over IPv4 loopback: soakConns client slots each open a
// connection (TCPSocket, Connect), send a header and 1..soakMaxMsgs
// messages of random size (1..soakMaxMsg bytes) that the server verifies
// and echoes and the client verifies again, then end it in one of three
// ways chosen at random: a half-close (Shutdown SHUT_WR; the server checks
// it got every byte, answers with a trailer of random length and closes;
// the client checks the trailer up to EOF), a reset by the client (SO_LINGER
// 0, then Close, after a random message), or a reset by the server (after a
// random byte count announced in the header). Then the slot pauses for a
// random Timeout and opens the next connection. Alongside: soakReaders
// Reads of random size at random offsets of a temp file, each verified, and
// soakTimers Timeouts of random length (checked not to fire early), one in
// eight of them raced by a Cancel.
//
// Every byte is checked: the client-to-server stream of connection id is
// stressPatternByte(id, offset), the echo is the same bytes, and the
// trailer is stressPatternByte(id^soakTrailerSeed, offset); the file holds
// stressPatternByte(soakFileSeed, offset).
//
// Flatness: every soakSamples'th of the steady phase the test forces a
// garbage collection and samples RSS (/proc/self/statm, resident pages ×
// page size), the Go heap (runtime.MemStats.HeapInuse, after that GC), open
// descriptors (entries of /proc/self/fd) and runtime.NumGoroutine. For each
// metric, the median of the first third of the samples (by index) and the
// median of the last third must differ by at most 10% of the first
// (soakTolerance), or by an absolute floor for small values (soakFloor:
// two goroutines, eight descriptors, 2 MiB of memory), so that a count of 3
// goroutines is not failed for becoming 4. After the steady phase no new
// connections start, the open ones finish, the loop closes, and the
// process's descriptors must be exactly those it had before the test.
//
// IOLOOP_SOAK_INJECT=fd|heap|goroutine|corrupt injects a leak (one extra
// descriptor per 50 connections, 4 KiB retained per connection, one parked
// goroutine per 100 connections) or a single corrupted byte, to show that
// the checks fail; it is for proving the test, never set in CI.
//
// The test needs about 2*soakConns+16 descriptors; it raises the soft
// RLIMIT_NOFILE up to the hard limit if needed (Go already raises it at
// start-up), and skips if even the hard limit is too low.
func TestSoak(t *testing.T) {
	setting := os.Getenv("IOLOOP_SOAK")
	if setting == "" {
		t.Skip("soak test off by default; run it with IOLOOP_SOAK=60s go test -run TestSoak -v . (the duration is per backend)")
	}
	duration, err := time.ParseDuration(setting)
	if err != nil || duration < 3*time.Second {
		t.Fatalf("IOLOOP_SOAK=%q: want a duration of at least 3s, such as 60s", setting)
	}
	inject := os.Getenv("IOLOOP_SOAK_INJECT")
	switch inject {
	case "", "fd", "heap", "goroutine", "corrupt":
	default:
		t.Fatalf("IOLOOP_SOAK_INJECT=%q: want fd, heap, goroutine or corrupt", inject)
	}
	raiseNoFile(t, 2*soakConns+64)
	for _, backend := range []Backend{BackendIOUring, BackendEpoll} {
		t.Run(backend.String(), func(t *testing.T) { runSoak(t, backend, duration, inject) })
	}
}

const (
	soakConns       = 1000
	soakMaxMsgs     = 12
	soakMaxMsg      = 8 << 10
	soakAccepts     = 32
	soakServerPool  = soakConns * 5 / 4
	soakReaders     = 8
	soakMaxRead     = 32 << 10
	soakTimers      = 32
	soakFileSize    = 1 << 20
	soakFileSeed    = 0xF11E
	soakTrailerSeed = 0x7A11E5 << 32
	soakSamples     = 60
	soakTolerance   = 0.10
	soakHeaderLen   = 40
	soakMaxFailures = 20
)

// The ways a soak connection ends.
const (
	soakHalfClose   = iota // client Shutdown(SHUT_WR); the server answers with a trailer, then closes
	soakClientReset        // client resets (SO_LINGER 0, Close) after message resetAfter
	soakServerReset        // server resets after receiving resetAt bytes
	soakModes
)

var soakModeNames = [soakModes]string{"half-close", "client reset", "server reset"}

type soakStats struct {
	conns       [soakModes]int
	verified    int64 // client-to-server bytes the server checked
	echoed      int64 // echoed bytes the client checked
	trailer     int64 // trailer bytes the client checked
	fileReads   int
	fileBytes   int64
	timers      int
	timerCancel int
}

type soak struct {
	t        *testing.T
	l        *Loop
	rng      *rand.Rand
	addr     netip.AddrPort
	lfd      int
	file     int
	stopping bool // no new connections
	closing  bool // Loop.Close is running: cancellations are expected
	nextID   uint64
	failures int
	stats    soakStats

	clients      []*soakClient
	freeServers  []*soakServer
	liveServers  int
	liveClients  int
	peakServers  int
	extraServers int // allocated beyond soakServerPool
	accepts      [soakAccepts]soakAccept
	readers      [soakReaders]soakReader
	timers       [soakTimers]soakTimer

	inject       string
	leakedFDs    []int
	retained     [][]byte
	parked       chan struct{}
	corruptedOne bool
}

func (s *soak) fail(format string, args ...any) {
	s.failures++
	if s.failures <= soakMaxFailures {
		s.t.Errorf(format, args...)
	}
	if s.failures == soakMaxFailures {
		s.stopping = true
	}
}

// soakClient is one client slot; it runs one connection at a time, with
// one operation at a time on c (so that it never closes a descriptor with
// an operation pending on it).
type soakClient struct {
	s          *soak
	fd         int
	id         uint64
	mode       int
	nMsgs      int
	msg        int // index of the message being sent
	sizes      [soakMaxMsgs]int
	total      int // bytes of all messages
	resetAfter int // client reset: after the Send of this message (1-based)
	resetAt    int // server reset: after this many bytes
	trailerLen int
	sent       int
	echoed     int
	trailerGot int
	hdr        [soakHeaderLen]byte
	out        [soakMaxMsg]byte
	in         [soakMaxMsg]byte
	c          Completion
}

func (c *soakClient) start() {
	s := c.s
	if s.stopping {
		return
	}
	s.nextID++
	c.id = s.nextID
	c.mode = s.rng.IntN(soakModes)
	c.nMsgs = 1 + s.rng.IntN(soakMaxMsgs)
	c.total = 0
	for i := range c.nMsgs {
		size := 1 + s.rng.IntN(soakMaxMsg)
		if s.rng.IntN(4) == 0 {
			size = 1 + s.rng.IntN(64)
		}
		c.sizes[i] = size
		c.total += size
	}
	c.resetAfter = 1 + s.rng.IntN(c.nMsgs)
	c.resetAt = 1 + s.rng.IntN(c.total)
	c.trailerLen = s.rng.IntN(soakMaxMsg + 1)
	c.msg, c.sent, c.echoed, c.trailerGot = 0, 0, 0, 0
	binary.LittleEndian.PutUint64(c.hdr[0:], c.id)
	binary.LittleEndian.PutUint64(c.hdr[8:], uint64(c.mode))
	binary.LittleEndian.PutUint64(c.hdr[16:], uint64(c.total))
	binary.LittleEndian.PutUint64(c.hdr[24:], uint64(c.resetAt))
	binary.LittleEndian.PutUint64(c.hdr[32:], uint64(c.trailerLen))
	fd, err := s.l.TCPSocket(s.addr)
	if err != nil {
		s.fail("TCPSocket: %v", err)
		return
	}
	c.fd = fd
	s.liveClients++
	Connect(s.l, &c.c, fd, s.addr, c, (*soakClient).onConnect)
}

func (c *soakClient) onConnect(_ *Completion, err error) {
	if err != nil {
		c.s.fail("conn %d: Connect: %v", c.id, err)
		c.close(false)
		return
	}
	Send(c.s.l, &c.c, c.fd, c.hdr[:], c, (*soakClient).onHeaderSent)
}

func (c *soakClient) onHeaderSent(_ *Completion, n int, err error) {
	if c.peerReset(err) {
		return
	}
	if err != nil {
		c.s.fail("conn %d: Send header: n=%d: %v", c.id, n, err)
		c.close(false)
		return
	}
	c.next()
}

// peerReset handles an error that a server reset explains: the connection
// ends with a plain Close.
func (c *soakClient) peerReset(err error) bool {
	if c.mode == soakServerReset && isOneOf(err, syscall.ECONNRESET, syscall.EPIPE) {
		c.close(false)
		return true
	}
	return false
}

// next sends the next message, sometimes after a short pause, or ends the
// connection after the last.
func (c *soakClient) next() {
	s := c.s
	if c.msg == c.nMsgs {
		switch c.mode {
		case soakHalfClose:
			Shutdown(s.l, &c.c, c.fd, unix.SHUT_WR, c, (*soakClient).onShutdown)
		default: // a reset must have ended it before the last echo
			s.fail("conn %d (%s): all %d messages echoed", c.id, soakModeNames[c.mode], c.nMsgs)
			c.close(false)
		}
		return
	}
	if s.rng.IntN(8) == 0 {
		Timeout(s.l, &c.c, time.Duration(s.rng.IntN(2000))*time.Microsecond, c, (*soakClient).onThink)
		return
	}
	c.send()
}

func (c *soakClient) onThink(_ *Completion, err error) {
	if err != nil {
		c.s.fail("conn %d: think Timeout: %v", c.id, err)
	}
	c.send()
}

func (c *soakClient) send() {
	s := c.s
	size := c.sizes[c.msg]
	fillStressPattern(c.out[:size], c.id, c.sent)
	if s.inject == "corrupt" && !s.corruptedOne && s.nextID > 500 {
		s.corruptedOne = true
		c.out[size/2] ^= 0x40
	}
	Send(s.l, &c.c, c.fd, c.out[:size], c, (*soakClient).onSent)
}

func (c *soakClient) onSent(_ *Completion, n int, err error) {
	if c.peerReset(err) {
		return
	}
	size := c.sizes[c.msg]
	if err != nil || n != size {
		c.s.fail("conn %d: Send message %d: n=%d of %d: %v", c.id, c.msg, n, size, err)
		c.close(false)
		return
	}
	c.sent += n
	c.msg++
	if c.mode == soakClientReset && c.msg == c.resetAfter {
		c.close(true)
		return
	}
	c.recvEcho()
}

func (c *soakClient) recvEcho() {
	want := min(c.sent-c.echoed, len(c.in))
	Recv(c.s.l, &c.c, c.fd, c.in[:want], c, (*soakClient).onEcho)
}

func (c *soakClient) onEcho(_ *Completion, n int, err error) {
	if c.peerReset(err) {
		return
	}
	if err != nil {
		c.s.fail("conn %d (%s): Recv echo after %d of %d bytes: %v", c.id, soakModeNames[c.mode], c.echoed, c.sent, err)
		c.close(false)
		return
	}
	if i := firstStressMismatch(c.in[:n], c.id, c.echoed); i >= 0 {
		c.s.fail("conn %d: echo byte %d corrupted", c.id, c.echoed+i)
	}
	c.echoed += n
	c.s.stats.echoed += int64(n)
	if c.echoed < c.sent {
		c.recvEcho()
		return
	}
	c.next()
}

func (c *soakClient) onShutdown(_ *Completion, err error) {
	if err != nil {
		c.s.fail("conn %d: Shutdown: %v", c.id, err)
		c.close(false)
		return
	}
	Recv(c.s.l, &c.c, c.fd, c.in[:], c, (*soakClient).onTrailer)
}

func (c *soakClient) onTrailer(_ *Completion, n int, err error) {
	switch {
	case err == io.EOF:
		if c.trailerGot != c.trailerLen {
			c.s.fail("conn %d: trailer of %d bytes ended after %d", c.id, c.trailerLen, c.trailerGot)
		}
		c.close(false)
		return
	case err != nil:
		c.s.fail("conn %d: Recv trailer after %d of %d bytes: %v", c.id, c.trailerGot, c.trailerLen, err)
		c.close(false)
		return
	}
	if c.trailerGot+n > c.trailerLen {
		c.s.fail("conn %d: trailer longer than %d bytes", c.id, c.trailerLen)
	} else if i := firstStressMismatch(c.in[:n], c.id^soakTrailerSeed, c.trailerGot); i >= 0 {
		c.s.fail("conn %d: trailer byte %d corrupted", c.id, c.trailerGot+i)
	}
	c.trailerGot += n
	c.s.stats.trailer += int64(n)
	Recv(c.s.l, &c.c, c.fd, c.in[:], c, (*soakClient).onTrailer)
}

// close closes the client's descriptor, with a reset if asked.
func (c *soakClient) close(reset bool) {
	if reset {
		resetOnClose(c.s.t, c.s.l, c.fd)
	}
	Close(c.s.l, &c.c, c.fd, c, (*soakClient).onClosed)
}

func (c *soakClient) onClosed(_ *Completion, err error) {
	s := c.s
	if err != nil {
		s.fail("conn %d: Close: %v", c.id, err)
	}
	s.liveClients--
	s.stats.conns[c.mode]++
	s.injectLeak()
	if s.stopping {
		return
	}
	Timeout(s.l, &c.c, time.Duration(s.rng.IntN(5000))*time.Microsecond, c, (*soakClient).onPause)
}

func (c *soakClient) onPause(_ *Completion, err error) {
	if c.s.closing {
		return
	}
	if err != nil {
		c.s.fail("pause Timeout: %v", err)
		return
	}
	c.start()
}

// injectLeak runs once per finished client connection.
func (s *soak) injectLeak() {
	done := s.stats.conns[0] + s.stats.conns[1] + s.stats.conns[2]
	switch {
	case s.inject == "fd" && done%50 == 0:
		fd, err := unix.Dup(s.lfd)
		if err == nil {
			s.leakedFDs = append(s.leakedFDs, fd)
		}
	case s.inject == "heap":
		s.retained = append(s.retained, make([]byte, 4<<10))
	case s.inject == "goroutine" && done%100 == 0:
		go func() { <-s.parked }()
	}
}

// soakAccept keeps one Accept pending on the listener.
type soakAccept struct {
	s *soak
	c Completion
}

func (a *soakAccept) start() { Accept(a.s.l, &a.c, a.s.lfd, a, (*soakAccept).onAccept) }

func (a *soakAccept) onAccept(_ *Completion, fd int, err error) {
	s := a.s
	if err != nil {
		if !(s.closing && errors.Is(err, ErrCanceled)) {
			s.fail("Accept: %v", err)
		}
		return
	}
	if s.closing { // the drain ended every connection; nothing can be served now
		s.fail("Accept during Close: fd %d", fd)
		unix.Close(fd)
		return
	}
	var srv *soakServer
	if n := len(s.freeServers); n > 0 {
		srv = s.freeServers[n-1]
		s.freeServers = s.freeServers[:n-1]
	} else {
		srv = &soakServer{s: s}
		s.extraServers++
	}
	s.liveServers++
	s.peakServers = max(s.peakServers, s.liveServers)
	srv.begin(fd)
	a.start()
}

// soakServer serves one accepted connection: it reads the header, then
// verifies and echoes what arrives, one operation at a time.
type soakServer struct {
	s          *soak
	fd         int
	hdr        [soakHeaderLen]byte
	hdrGot     int
	id         uint64
	mode       int
	total      int
	resetAt    int
	trailerLen int
	got        int
	buf        [soakMaxMsg]byte
	c          Completion
}

func (v *soakServer) begin(fd int) {
	v.fd, v.hdrGot, v.got = fd, 0, 0
	v.id, v.mode = 0, -1
	Recv(v.s.l, &v.c, fd, v.hdr[:], v, (*soakServer).onHeader)
}

// clientReset handles an error that a client reset explains.
func (v *soakServer) clientReset(err error) bool {
	if (v.mode == soakClientReset || v.mode == -1) && isOneOf(err, syscall.ECONNRESET, syscall.EPIPE) {
		v.close(false)
		return true
	}
	return false
}

func (v *soakServer) onHeader(_ *Completion, n int, err error) {
	if v.clientReset(err) {
		return
	}
	if err != nil {
		v.s.fail("server: Recv header after %d bytes: %v", v.hdrGot, err)
		v.close(false)
		return
	}
	v.hdrGot += n
	if v.hdrGot < soakHeaderLen {
		Recv(v.s.l, &v.c, v.fd, v.hdr[v.hdrGot:], v, (*soakServer).onHeader)
		return
	}
	v.id = binary.LittleEndian.Uint64(v.hdr[0:])
	v.mode = int(binary.LittleEndian.Uint64(v.hdr[8:]))
	v.total = int(binary.LittleEndian.Uint64(v.hdr[16:]))
	v.resetAt = int(binary.LittleEndian.Uint64(v.hdr[24:]))
	v.trailerLen = int(binary.LittleEndian.Uint64(v.hdr[32:]))
	if v.mode < 0 || v.mode >= soakModes || v.trailerLen > soakMaxMsg || v.resetAt > v.total {
		v.s.fail("server: bad header %x", v.hdr)
		v.close(false)
		return
	}
	v.recv()
}

func (v *soakServer) recv() {
	limit := len(v.buf)
	if v.mode == soakServerReset {
		limit = min(limit, v.resetAt-v.got)
	}
	Recv(v.s.l, &v.c, v.fd, v.buf[:limit], v, (*soakServer).onData)
}

func (v *soakServer) onData(_ *Completion, n int, err error) {
	s := v.s
	if v.clientReset(err) {
		return
	}
	if err == io.EOF && v.mode == soakHalfClose {
		if v.got != v.total {
			s.fail("conn %d: EOF after %d of %d bytes", v.id, v.got, v.total)
		}
		if v.trailerLen == 0 {
			v.close(false)
			return
		}
		fillStressPattern(v.buf[:v.trailerLen], v.id^soakTrailerSeed, 0)
		Send(s.l, &v.c, v.fd, v.buf[:v.trailerLen], v, (*soakServer).onTrailerSent)
		return
	}
	if err != nil {
		s.fail("conn %d (%s): server Recv after %d of %d bytes: %v", v.id, soakModeNames[v.mode], v.got, v.total, err)
		v.close(false)
		return
	}
	if i := firstStressMismatch(v.buf[:n], v.id, v.got); i >= 0 {
		s.fail("conn %d: byte %d corrupted on its way to the server", v.id, v.got+i)
	}
	v.got += n
	s.stats.verified += int64(n)
	if v.got > v.total {
		s.fail("conn %d: server got %d bytes, more than the %d announced", v.id, v.got, v.total)
	}
	if v.mode == soakServerReset && v.got == v.resetAt {
		v.close(true)
		return
	}
	Send(s.l, &v.c, v.fd, v.buf[:n], v, (*soakServer).onEchoSent)
}

func (v *soakServer) onEchoSent(_ *Completion, n int, err error) {
	if v.clientReset(err) {
		return
	}
	if err != nil {
		v.s.fail("conn %d: server echo Send: n=%d: %v", v.id, n, err)
		v.close(false)
		return
	}
	v.recv()
}

func (v *soakServer) onTrailerSent(_ *Completion, n int, err error) {
	if err != nil || n != v.trailerLen {
		v.s.fail("conn %d: trailer Send: n=%d of %d: %v", v.id, n, v.trailerLen, err)
	}
	v.close(false)
}

func (v *soakServer) close(reset bool) {
	if reset {
		resetOnClose(v.s.t, v.s.l, v.fd)
	}
	Close(v.s.l, &v.c, v.fd, v, (*soakServer).onClosed)
}

func (v *soakServer) onClosed(_ *Completion, err error) {
	s := v.s
	if err != nil {
		s.fail("conn %d: server Close: %v", v.id, err)
	}
	s.liveServers--
	s.freeServers = append(s.freeServers, v)
}

// soakReader reads a random range of the file, verifies it, pauses, and
// reads again.
type soakReader struct {
	s    *soak
	off  int
	size int
	buf  [soakMaxRead]byte
	c    Completion
}

func (r *soakReader) start() {
	s := r.s
	r.off = s.rng.IntN(soakFileSize)
	r.size = 1 + s.rng.IntN(soakMaxRead)
	Read(s.l, &r.c, s.file, r.buf[:r.size], int64(r.off), r, (*soakReader).onRead)
}

func (r *soakReader) onRead(_ *Completion, n int, err error) {
	s := r.s
	if s.closing && errors.Is(err, ErrCanceled) {
		return
	}
	want := min(r.size, soakFileSize-r.off)
	if err != nil || n != want {
		s.fail("file Read(%d bytes at %d): n=%d, want %d: %v", r.size, r.off, n, want, err)
	} else if i := firstStressMismatch(r.buf[:n], soakFileSeed, r.off); i >= 0 {
		s.fail("file Read: byte %d corrupted", r.off+i)
	}
	s.stats.fileReads++
	s.stats.fileBytes += int64(n)
	Timeout(s.l, &r.c, time.Duration(s.rng.IntN(1000))*time.Microsecond, r, (*soakReader).onPause)
}

func (r *soakReader) onPause(_ *Completion, err error) {
	if r.s.closing { // a Read submitted now would get ErrClosed
		return
	}
	if err != nil {
		r.s.fail("reader pause: %v", err)
		return
	}
	r.start()
}

// soakTimer is a Timeout of random length, checked not to fire early, and
// sometimes raced by a Cancel; it restarts once both callbacks ran.
type soakTimer struct {
	s         *soak
	d         time.Duration
	startedAt time.Time
	waiting   int // callbacks still to come
	canceled  bool
	timerErr  error
	cancelErr error
	c, cancel Completion
}

func (m *soakTimer) start() {
	s := m.s
	m.d = time.Duration(s.rng.IntN(5000)) * time.Microsecond
	m.startedAt = s.l.Now()
	m.waiting, m.canceled = 1, false
	Timeout(s.l, &m.c, m.d, m, (*soakTimer).onTimer)
	if s.rng.IntN(8) == 0 {
		m.waiting, m.canceled = 2, true
		Cancel(s.l, &m.cancel, &m.c, m, (*soakTimer).onCancel)
	}
}

func (m *soakTimer) onTimer(_ *Completion, err error) {
	m.timerErr = err
	if err == nil {
		if elapsed := m.s.l.Now().Sub(m.startedAt); elapsed < m.d {
			m.s.fail("Timeout(%v) fired after %v", m.d, elapsed)
		}
	}
	m.s.stats.timers++
	m.done()
}

func (m *soakTimer) onCancel(_ *Completion, err error) {
	m.cancelErr = err
	m.done()
}

func (m *soakTimer) done() {
	s := m.s
	if m.waiting--; m.waiting > 0 {
		return
	}
	if s.closing {
		return
	}
	switch {
	case m.timerErr != nil && !errors.Is(m.timerErr, ErrCanceled):
		s.fail("Timeout: %v", m.timerErr)
	case m.canceled && m.cancelErr == nil && m.timerErr == nil:
		s.fail("Cancel of a Timeout answered nil, but the Timeout fired")
	case m.canceled && m.cancelErr != nil && !errors.Is(m.cancelErr, ErrNotFound) && !errors.Is(m.cancelErr, syscall.EALREADY):
		s.fail("Cancel of a Timeout: %v", m.cancelErr)
	case !m.canceled && m.timerErr != nil:
		s.fail("Timeout without a Cancel: %v", m.timerErr)
	}
	if m.canceled {
		s.stats.timerCancel++
	}
	m.start()
}

// soakSample is one sample of the process's resources.
type soakSample struct {
	rss, heap, fds, goroutines int64
}

var soakMetrics = []struct {
	name  string
	get   func(soakSample) int64
	floor int64 // absolute tolerance for small values
	unit  string
}{
	{"RSS", func(s soakSample) int64 { return s.rss }, 2 << 20, "B"},
	{"HeapInuse", func(s soakSample) int64 { return s.heap }, 2 << 20, "B"},
	{"open fds", func(s soakSample) int64 { return s.fds }, 8, ""},
	{"goroutines", func(s soakSample) int64 { return s.goroutines }, 2, ""},
}

func takeSoakSample(t *testing.T) soakSample {
	t.Helper()
	var out soakSample
	names, err := readDirNames("/proc/self/fd")
	if err != nil {
		t.Fatalf("/proc/self/fd: %v", err)
	}
	out.fds = int64(names - 1) // less the directory being read
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatalf("/proc/self/statm: %v", err)
	}
	fields := strings.Fields(string(statm))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatalf("/proc/self/statm %q: %v", statm, err)
	}
	out.rss = pages * int64(os.Getpagesize())
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out.heap = int64(ms.HeapInuse)
	out.goroutines = int64(runtime.NumGoroutine())
	return out
}

func readDirNames(dir string) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return len(names), err
}

// checkSoakFlat compares the median of the first third of samples with
// the median of the last third, for each metric.
func checkSoakFlat(t *testing.T, samples []soakSample) {
	t.Helper()
	third := len(samples) / 3
	if third < 3 {
		t.Fatalf("only %d samples: too few to compare thirds", len(samples))
	}
	for _, m := range soakMetrics {
		first, last := soakMedian(samples[:third], m.get), soakMedian(samples[len(samples)-third:], m.get)
		allowed := max(int64(soakTolerance*float64(first)), m.floor)
		change := 100 * float64(last-first) / float64(max(first, 1))
		t.Logf("%-10s first third %s, last third %s (%+.1f%%; allowed ±%s)", m.name,
			soakFormat(first, m.unit), soakFormat(last, m.unit), change, soakFormat(allowed, m.unit))
		if d := last - first; d > allowed || -d > allowed {
			t.Errorf("%s is not flat: median %s over the first third of the run, %s over the last (allowed ±%s)",
				m.name, soakFormat(first, m.unit), soakFormat(last, m.unit), soakFormat(allowed, m.unit))
		}
	}
}

func soakMedian(samples []soakSample, get func(soakSample) int64) int64 {
	values := make([]int64, len(samples))
	for i, s := range samples {
		values[i] = get(s)
	}
	slices.Sort(values)
	return values[len(values)/2]
}

func soakFormat(v int64, unit string) string {
	if unit == "B" {
		return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20))
	}
	return strconv.FormatInt(v, 10)
}

// raiseNoFile makes sure the soft RLIMIT_NOFILE allows need descriptors,
// raising it up to the hard limit; it skips the test if that cannot be.
func raiseNoFile(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur >= need {
		return
	}
	if lim.Max < need {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below the %d descriptors the soak test needs", lim.Max, need)
	}
	t.Logf("raising RLIMIT_NOFILE from %d to %d", lim.Cur, lim.Max)
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
}

func runSoak(t *testing.T, backend Backend, duration time.Duration, inject string) {
	openFDs(t) // the first os.Open sets up the Go runtime's own poller (an epoll fd and an eventfd)
	fdsBefore := openFDs(t)
	goroutinesBefore := runtime.NumGoroutine()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %v, %d connections", seed, duration, soakConns)

	path := filepath.Join(t.TempDir(), "soak")
	content := make([]byte, soakFileSize)
	fillStressPattern(content, soakFileSeed, 0)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	content = nil
	file, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Options{Backend: backend})
	if err != nil {
		unix.Close(file)
		t.Skipf("New(%v): %v", backend, err)
	}
	lfd, addr, err := l.ListenTCP(loopback4, ListenOptions{})
	if err != nil {
		t.Fatalf("ListenTCP: %v", err)
	}
	s := &soak{t: t, l: l, rng: rand.New(rand.NewPCG(seed, seed)), addr: addr, lfd: lfd, file: file,
		inject: inject, parked: make(chan struct{})}
	defer close(s.parked)
	for i := range s.accepts {
		s.accepts[i].s = s
		s.accepts[i].start()
	}
	for i := range s.readers {
		s.readers[i].s = s
		s.readers[i].start()
	}
	for i := range s.timers {
		s.timers[i].s = s
		s.timers[i].start()
	}
	// The servers are allocated up front, more than can be open at once, so
	// that the test's own memory does not grow with the peak number of
	// connections the run happens to reach (seen: up to about 930).
	servers := make([]soakServer, soakServerPool)
	for i := range servers {
		servers[i].s = s
		s.freeServers = append(s.freeServers, &servers[i])
	}
	s.clients = make([]*soakClient, soakConns)
	for i := range s.clients {
		s.clients[i] = &soakClient{s: s}
		s.clients[i].start()
	}

	// The steady phase, sampled soakSamples times.
	samples := make([]soakSample, 0, soakSamples+1)
	start := time.Now()
	interval := duration / soakSamples
	nextSample := start.Add(interval / 2)
	for end := start.Add(duration); time.Now().Before(end) && !s.stopping; {
		if err := l.RunFor(5 * time.Millisecond); err != nil {
			t.Fatalf("RunFor: %v", err)
		}
		if time.Now().After(nextSample) {
			samples = append(samples, takeSoakSample(t))
			nextSample = nextSample.Add(interval)
		}
	}
	steady := time.Since(start)

	// Drain: the connections in progress finish; nothing new starts.
	s.stopping = true
	deadline := time.Now().Add(20 * time.Second)
	for s.liveClients > 0 || s.liveServers > 0 {
		if time.Now().After(deadline) {
			t.Errorf("drain: %d client and %d server connections still open after 20 s", s.liveClients, s.liveServers)
			break
		}
		if err := l.RunFor(5 * time.Millisecond); err != nil {
			t.Fatalf("RunFor: %v", err)
		}
	}
	s.closing = true
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if p := l.Pending(); p != 0 {
		t.Errorf("Pending() = %d after Close", p)
	}
	unix.Close(lfd)
	unix.Close(file)
	for _, fd := range s.leakedFDs {
		unix.Close(fd)
	}

	st := s.stats
	conns := st.conns[0] + st.conns[1] + st.conns[2]
	t.Logf("%v steady: %d connections (%d half-closed, %d reset by the client, %d by the server; %.0f/s); at most %d server connections at once (%d beyond the pool)",
		steady.Round(time.Millisecond), conns, st.conns[0], st.conns[1], st.conns[2], float64(conns)/steady.Seconds(),
		s.peakServers, s.extraServers)
	t.Logf("bytes verified: %d to the server, %d echoed, %d trailer; %d file reads (%d bytes); %d timers, %d raced by Cancel",
		st.verified, st.echoed, st.trailer, st.fileReads, st.fileBytes, st.timers, st.timerCancel)
	if s.failures > 0 {
		t.Errorf("%d failures in all", s.failures)
	}
	if conns < 2*soakConns || st.fileReads == 0 || st.timers == 0 || st.trailer == 0 {
		t.Errorf("too little happened to mean anything: %d connections, %d file reads, %d timers", conns, st.fileReads, st.timers)
	}
	for mode, n := range st.conns {
		if n == 0 {
			t.Errorf("no connection ended by %s", soakModeNames[mode])
		}
	}
	checkSoakFlat(t, samples)

	// Everything is closed: the process has the descriptors it started
	// with, and no more goroutines (the epoll file workers stop at Close).
	checkNoFDLeak(t, fdsBefore, openFDs(t))
	if inject != "goroutine" {
		for wait := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > goroutinesBefore && time.Now().Before(wait); {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > goroutinesBefore {
			t.Errorf("%d goroutines after Close, %d before the loop", n, goroutinesBefore)
		}
	}
}
