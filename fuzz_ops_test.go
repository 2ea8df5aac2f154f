//go:build !windows

package ioloop

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzOperations drives one loop with a random sequence of operations
// decoded from the input, against a model of the exactly-one-callback
// rule (issue 13):
//
//	go test -run '^$' -fuzz '^FuzzOperations$' -fuzztime 60s .
//
// Plain go test runs the seed corpus in testdata/fuzz/FuzzOperations as
// regression tests, and then checks that they left no descriptor open.
//
// Input: byte 0 picks the backend (the simulator, io_uring, or the
// platform's readiness backend; io_uring becomes the readiness backend
// where it is missing); then each group of three bytes (op, slot, arg) is
// one step, at most fuzzMaxSteps. The loop gets two connected socket pairs
// (four endpoints) and one file of fuzzFileSize bytes, and fuzzSlots
// Completions. A step submits Nop, NextTick, Timeout (at most 1.5 ms),
// Recv or Send (on an endpoint), Read or Write (on the file, at an offset
// below 64 KiB or -1), Cancel (of any other slot, in flight or not) or
// Close (of a descriptor) with the Completion of its slot, or runs the
// loop (Tick, or RunFor up to 0.7 ms). At the end Loop.Close runs.
//
// The fuzzer never misuses the API: a slot is submitted again only after
// its callback, and only when no Cancel aimed at it is still pending (so
// that every Cancel has one well-defined target submission); a descriptor
// is never used after a Close was submitted for it; buffers are never
// zero-length (the simulator differs from the kernel there, see issue 13).
//
// The model checks: every submission gets exactly one callback, none after
// Loop.Close returns, and Pending() is 0 after it; each result is in the
// set its operation allows (below, fuzzAllowed); a Cancel whose target was
// idle when it was submitted gets ErrNotFound (or ErrCanceled, if Close
// canceled the Cancel itself); a Cancel that answered nil means its target
// got ErrCanceled; and a target that got ErrCanceled before Loop.Close
// began had a Cancel answer nil. A Timeout that fires does not fire early
// (by Loop.Now). Any panic fails the input.
func FuzzOperations(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "data")
	if err := os.WriteFile(path, pattern(fuzzFileSize, 7), 0o600); err != nil {
		f.Fatal(err)
	}
	kernel := readinessBackendKind
	if runtime.GOOS == "linux" {
		if l, err := New(Options{Backend: BackendIOUring}); err == nil {
			l.Close()
			kernel = BackendIOUring
		} else {
			f.Logf("io_uring unavailable (%v): inputs that ask for it run on %v", err, readinessBackendKind)
		}
	}
	checkFDs := runtime.GOOS == "linux" && !fuzzing()
	var before map[string]string
	if checkFDs {
		openFDs(f) // the first os.Open sets up the Go runtime's own poller
		before = openFDs(f)
		f.Cleanup(func() { checkNoFDLeak(f, before, openFDs(f)) })
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		backend := [3]Backend{BackendSimulator, kernel, readinessBackendKind}[int(data[0])%3]
		runFuzzOperations(t, backend, path, data[1:])
	})
}

// fuzzing reports whether the test binary is fuzzing (go test -fuzz),
// rather than running the seed corpus.
func fuzzing() bool {
	fl := flag.Lookup("test.fuzz")
	return fl != nil && fl.Value.String() != ""
}

const (
	fuzzSlots     = 16
	fuzzMaxSteps  = 128
	fuzzBufSize   = 4 << 10
	fuzzFileSize  = 16 << 10
	fuzzEndpoints = 4 // two socket pairs
	fuzzFile      = fuzzEndpoints
)

// The steps of a fuzz input, by op byte modulo fuzzSteps.
const (
	fuzzNop = iota
	fuzzNextTick
	fuzzTimeout
	fuzzRecv
	fuzzSend
	fuzzRead
	fuzzWrite
	fuzzCancel
	fuzzClose
	fuzzTick
	fuzzRunFor
	fuzzSteps
)

var fuzzStepNames = [fuzzSteps]string{"Nop", "NextTick", "Timeout", "Recv", "Send", "Read", "Write", "Cancel",
	"Close", "Tick", "RunFor"}

// fuzzDesc is one descriptor of the input: a socket endpoint or the file.
type fuzzDesc struct {
	fd       int
	closing  bool // a Close was submitted: never used again
	released bool // the Close ran: the number is no longer ours
}

// fuzzSub is one submission.
type fuzzSub struct {
	step      int // index of the step that submitted it
	op        int
	slot      int
	fd        int  // descriptor index, or -1
	target    int  // Cancel: the submission it targets (-1: its slot was never submitted)
	targetOf  int  // Cancel: the slot it targets
	idle      bool // Cancel: the target was idle when the Cancel was submitted
	size      int
	timeout   time.Duration
	at        time.Time
	calls     int
	n         int
	err       error
	duringEnd bool // the callback ran inside Loop.Close
	// canceledByClose: ErrCanceled because the loop closed its descriptor.
	canceledByClose bool
	cancelNil       bool // some Cancel of this submission answered nil
}

// fuzzSlot is one Completion of the input.
type fuzzSlot struct {
	m              *fuzzModel
	idx            int
	sub            int // current or last submission, -1 before the first
	inflight       bool
	cancelsPending int // Cancels aimed at this slot not called back yet
	buf            [fuzzBufSize]byte
	c              Completion
}

type fuzzModel struct {
	t             *testing.T
	l             *Loop
	fds           *testFDs
	desc          [fuzzEndpoints + 1]fuzzDesc
	slots         [fuzzSlots]fuzzSlot
	subs          []fuzzSub
	closing       bool
	closeReturned bool
	failures      int
}

func (m *fuzzModel) fail(format string, args ...any) {
	m.t.Helper()
	m.failures++
	if m.failures <= 10 {
		m.t.Errorf(format, args...)
	}
}

func (m *fuzzModel) describe(i int) string {
	s := &m.subs[i]
	return fmt.Sprintf("step %d: %s on slot %d (submission %d, fd index %d, size %d)",
		s.step, fuzzStepNames[s.op], s.slot, i, s.fd, s.size)
}

func runFuzzOperations(t *testing.T, backend Backend, path string, steps []byte) {
	l := newTestLoop(t, Options{Backend: backend})
	m := &fuzzModel{t: t, l: l, fds: newTestFDs(t, l)}
	for i := range m.slots {
		m.slots[i] = fuzzSlot{m: m, idx: i, sub: -1}
		fillStressPattern(m.slots[i].buf[:], uint64(i), 0)
	}
	for p := 0; p < fuzzEndpoints; p += 2 {
		a, b := m.fds.socketPair()
		m.desc[p].fd, m.desc[p+1].fd = a, b
	}
	if simOf(l) != nil {
		node := simOf(l).node
		node.WriteFile(path, pattern(fuzzFileSize, 7))
		fd, errno := node.Open(path, simOpenFlags(unix.O_RDWR))
		if errno != 0 {
			t.Fatalf("open %s: %v", path, errno)
		}
		m.desc[fuzzFile].fd = fd
	} else {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		m.desc[fuzzFile].fd = m.fds.add(fd)
	}

	for i := 0; i+3 <= len(steps) && i/3 < fuzzMaxSteps; i += 3 {
		m.step(i/3, int(steps[i])%fuzzSteps, int(steps[i+1])%fuzzSlots, int(steps[i+2]))
	}

	m.closing = true
	if err := l.Close(); err != nil {
		m.fail("Loop.Close: %v", err)
	}
	m.closeReturned = true
	if p := l.Pending(); p != 0 {
		m.fail("Pending() = %d after Close", p)
	}
	if simOf(l) != nil {
		if n := simOf(l).node.InFlight(); n != 0 {
			m.fail("%d operations still in flight in the simulator after Close", n)
		}
	}
	m.check()
}

// free reports whether slot may be submitted now.
func (s *fuzzSlot) free() bool { return !s.inflight && s.cancelsPending == 0 }

// begin records a new submission of s and returns it.
func (m *fuzzModel) begin(step, op int, s *fuzzSlot, fd int) *fuzzSub {
	m.subs = append(m.subs, fuzzSub{step: step, op: op, slot: s.idx, fd: fd, target: -1})
	s.sub = len(m.subs) - 1
	s.inflight = true
	return &m.subs[s.sub]
}

// openDesc returns the descriptor index arg picks among the endpoints
// (file false) or the file, or -1 if it is closing.
func (m *fuzzModel) openDesc(arg int, file bool) int {
	i := fuzzFile
	if !file {
		i = arg % fuzzEndpoints
	}
	if m.desc[i].closing {
		return -1
	}
	return i
}

func (m *fuzzModel) step(step, op, slot, arg int) {
	l := m.l
	s := &m.slots[slot]
	switch op {
	case fuzzTick:
		if err := l.Tick(); err != nil {
			m.fail("step %d: Tick: %v", step, err)
		}
		return
	case fuzzRunFor:
		if err := l.RunFor(time.Duration(arg%8) * 100 * time.Microsecond); err != nil {
			m.fail("step %d: RunFor: %v", step, err)
		}
		return
	}
	if !s.free() {
		return
	}
	switch op {
	case fuzzNop:
		m.begin(step, op, s, -1)
		Nop(l, &s.c, s, (*fuzzSlot).onErr)
	case fuzzNextTick:
		m.begin(step, op, s, -1)
		NextTick(l, &s.c, s, (*fuzzSlot).onErr)
	case fuzzTimeout:
		sub := m.begin(step, op, s, -1)
		sub.timeout = time.Duration(arg%16) * 100 * time.Microsecond
		sub.at = l.Now()
		Timeout(l, &s.c, sub.timeout, s, (*fuzzSlot).onErr)
	case fuzzRecv, fuzzSend:
		d := m.openDesc(arg, false)
		if d < 0 {
			return
		}
		sub := m.begin(step, op, s, d)
		if op == fuzzRecv {
			sub.size = 1 + arg/4%64
			Recv(l, &s.c, m.desc[d].fd, s.buf[:sub.size], s, (*fuzzSlot).onCount)
		} else {
			sub.size = 1 + arg*16%fuzzBufSize
			Send(l, &s.c, m.desc[d].fd, s.buf[:sub.size], s, (*fuzzSlot).onCount)
		}
	case fuzzRead, fuzzWrite:
		d := m.openDesc(arg, true)
		if d < 0 {
			return
		}
		sub := m.begin(step, op, s, d)
		sub.size = 1 + arg*37%fuzzBufSize
		offset := int64(arg) * 256
		if arg%4 == 0 {
			offset = -1
		}
		if op == fuzzRead {
			Read(l, &s.c, m.desc[d].fd, s.buf[:sub.size], offset, s, (*fuzzSlot).onCount)
		} else {
			Write(l, &s.c, m.desc[d].fd, s.buf[:sub.size], offset, s, (*fuzzSlot).onCount)
		}
	case fuzzCancel:
		target := &m.slots[arg%fuzzSlots]
		if target == s {
			return
		}
		idle := !target.inflight
		sub := m.begin(step, op, s, -1)
		sub.idle = idle
		sub.target = target.sub
		sub.targetOf = target.idx
		target.cancelsPending++
		Cancel(l, &s.c, &target.c, s, (*fuzzSlot).onErr)
	case fuzzClose:
		d := arg % (fuzzEndpoints + 1)
		if m.desc[d].closing {
			return
		}
		m.desc[d].closing = true
		m.begin(step, op, s, d)
		Close(l, &s.c, m.desc[d].fd, s, (*fuzzSlot).onErr)
	}
}

func (s *fuzzSlot) onErr(c *Completion, err error) { s.done(c, 0, err) }

func (s *fuzzSlot) onCount(c *Completion, n int, err error) { s.done(c, n, err) }

func (s *fuzzSlot) done(c *Completion, n int, err error) {
	m := s.m
	if c != &s.c {
		m.fail("slot %d: callback with another slot's Completion", s.idx)
		return
	}
	if m.closeReturned {
		m.fail("slot %d: callback after Loop.Close returned", s.idx)
	}
	if !s.inflight || s.sub < 0 {
		m.fail("slot %d: callback without a submission in flight (a second callback?)", s.idx)
		return
	}
	s.inflight = false
	sub := &m.subs[s.sub]
	sub.calls++
	sub.n, sub.err, sub.duringEnd = n, err, m.closing
	if sub.op == fuzzCancel {
		m.slots[sub.targetOf].cancelsPending--
		if sub.target >= 0 && err == nil {
			m.subs[sub.target].cancelNil = true
		}
	}
	if !m.fuzzAllowed(sub) {
		m.fail("%s: result n=%d err=%v (%T) not allowed", m.describe(s.sub), n, err, err)
	}
	if sub.op == fuzzTimeout && err == nil {
		if elapsed := m.l.Now().Sub(sub.at); elapsed < sub.timeout {
			m.fail("%s: Timeout(%v) fired after %v", m.describe(s.sub), sub.timeout, elapsed)
		}
	}
	if sub.op == fuzzClose && !errors.Is(err, ErrCanceled) && !errors.Is(err, ErrClosed) {
		// As with close(2), the descriptor is released whatever the error.
		d := &m.desc[sub.fd]
		d.released = true
		if simOf(m.l) == nil {
			delete(m.fds.open, d.fd)
		}
	}
}

// fuzzAllowed reports whether sub's result is one its operation may have.
// ErrCanceled is allowed everywhere (a Cancel, Loop.Close, or on the
// readiness backends the Close of the descriptor). An
// operation on a descriptor closed while it was in flight may also get
// EBADF (on the readiness backends the Close runs in the worker pool and
// may overtake it) or, on the simulator, ECONNRESET (its model of a local
// close; issue 13, item 8).
func (m *fuzzModel) fuzzAllowed(sub *fuzzSub) bool {
	n, err := sub.n, sub.err
	fdClosing := sub.fd >= 0 && m.desc[sub.fd].closing && sub.op != fuzzClose
	if errors.Is(err, ErrCanceled) {
		// The readiness backends cancel what waits on a descriptor that
		// the loop closes (issue 13, item 8).
		sub.canceledByClose = fdClosing
		return n >= 0 && n <= max(sub.size, 0)
	}
	if fdClosing && isOneOf(err, syscall.EBADF, syscall.ECONNRESET) {
		return true
	}
	switch sub.op {
	case fuzzNop, fuzzNextTick, fuzzTimeout:
		return err == nil
	case fuzzRecv:
		return err == nil && n > 0 && n <= sub.size || err == io.EOF && n == 0 ||
			isOneOf(err, syscall.ECONNRESET) && n == 0
	case fuzzSend:
		return err == nil && n == sub.size || isOneOf(err, syscall.EPIPE, syscall.ECONNRESET) && n >= 0 && n < sub.size
	case fuzzRead:
		return err == nil && n > 0 && n <= sub.size || err == io.EOF && n == 0
	case fuzzWrite:
		return err == nil && n > 0 && n <= sub.size
	case fuzzCancel:
		if sub.idle {
			return errors.Is(err, ErrNotFound)
		}
		return err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, syscall.EALREADY)
	case fuzzClose:
		return err == nil
	}
	return false
}

// check runs after Loop.Close: every submission got exactly one callback,
// and Cancels and their targets agree.
func (m *fuzzModel) check() {
	for i := range m.slots {
		if s := &m.slots[i]; s.inflight || s.cancelsPending != 0 {
			m.fail("slot %d: still in flight (%v) or with %d Cancels pending after Close", i, s.inflight, s.cancelsPending)
		}
	}
	for i := range m.subs {
		sub := &m.subs[i]
		if sub.calls != 1 {
			m.fail("%s: %d callbacks, want exactly one", m.describe(i), sub.calls)
			continue
		}
		canceled := errors.Is(sub.err, ErrCanceled)
		if sub.cancelNil && !canceled {
			m.fail("%s: a Cancel answered nil, but it completed with n=%d err=%v", m.describe(i), sub.n, sub.err)
		}
		if canceled && !sub.duringEnd && !sub.cancelNil && !sub.canceledByClose {
			m.fail("%s: ErrCanceled before Loop.Close, but no Cancel answered nil", m.describe(i))
		}
	}
}
