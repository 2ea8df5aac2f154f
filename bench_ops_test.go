//go:build !windows

package ioloop

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// Per-operation cost of the common operations on every backend this system
// has, with allocations, for benchstat comparisons between commits:
//
//	go test -run xxx -bench 'Op(Nop|Timeout|Echo|Read)' -count 10 . > new.txt
//	benchstat old.txt new.txt
//
// Each benchmark keeps a few operations in flight, every callback
// resubmitting its own Completion, and reports the cost per operation (per
// round trip for Echo). The cross-library comparisons live in the bench/
// module (cd bench && go run ./cmd/suite).

// opsBackends are the kernel backends of this operating system.
func opsBackends() []Backend {
	if runtime.GOOS == "linux" {
		return []Backend{BackendIOUring, BackendEpoll}
	}
	return []Backend{readinessBackendKind}
}

// forEachOpsBackend runs fn as a sub-benchmark per backend, on a loop of
// its own that is closed when the sub-benchmark ends.
func forEachOpsBackend(b *testing.B, opts Options, fn func(b *testing.B, l *Loop)) {
	for _, backend := range opsBackends() {
		b.Run(backend.String(), func(b *testing.B) {
			o := opts
			o.Backend = backend
			l, err := New(o)
			if err != nil {
				b.Skipf("%v backend unavailable: %v", backend, err)
			}
			b.Cleanup(func() {
				if err := l.Close(); err != nil {
					b.Errorf("Close: %v", err)
				}
			})
			b.ReportAllocs()
			fn(b, l)
		})
	}
}

// opsCounter hands out the b.N operations of a benchmark to callbacks
// that resubmit.
type opsCounter struct {
	loop      *Loop
	remaining int
	err       error
}

// next reports whether another operation should be submitted, and counts
// it.
func (o *opsCounter) next() bool {
	if o.err != nil || o.remaining <= 0 {
		return false
	}
	o.remaining--
	return true
}

func (o *opsCounter) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

// runOps submits the first inFlight operations with start and runs the
// loop until every operation has completed.
func runOps(b *testing.B, o *opsCounter, inFlight int, start func(i int)) {
	b.Helper()
	inFlight = min(inFlight, b.N)
	o.remaining = b.N - inFlight
	b.ResetTimer()
	for i := range inFlight {
		start(i)
	}
	if err := o.loop.Run(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if o.err != nil {
		b.Fatal(o.err)
	}
}

func (o *opsCounter) onNop(c *Completion, err error) {
	if err != nil {
		o.fail(err)
	} else if o.next() {
		Nop(o.loop, c, o, (*opsCounter).onNop)
	}
}

// BenchmarkOpNop: 32 NOPs in flight. BenchmarkNop (bench_nop_test.go)
// varies the batch size on the default backend.
func BenchmarkOpNop(b *testing.B) {
	forEachOpsBackend(b, Options{}, func(b *testing.B, l *Loop) {
		o := &opsCounter{loop: l}
		cs := make([]Completion, 32)
		runOps(b, o, len(cs), func(i int) { Nop(l, &cs[i], o, (*opsCounter).onNop) })
	})
}

func (o *opsCounter) onTimeout(c *Completion, err error) {
	if err != nil {
		o.fail(err)
	} else if o.next() {
		Timeout(o.loop, c, 0, o, (*opsCounter).onTimeout)
	}
}

// BenchmarkOpTimeout: 32 zero-length timeouts in flight, each resubmitted
// when it fires: the cost of arming and firing a timer.
func BenchmarkOpTimeout(b *testing.B) {
	forEachOpsBackend(b, Options{}, func(b *testing.B, l *Loop) {
		o := &opsCounter{loop: l}
		cs := make([]Completion, 32)
		runOps(b, o, len(cs), func(i int) { Timeout(l, &cs[i], 0, o, (*opsCounter).onTimeout) })
	})
}

// echoPair is one round trip at a time over a socket pair: the client end
// sends a message and receives the echo, the server end receives and sends
// back, all through the loop.
type echoPair struct {
	*opsCounter
	client, server   int
	msg, reply, echo []byte
	got              int
	sent             bool
	clientSend       Completion
	clientRecv       Completion
	serverOp         Completion
}

func (e *echoPair) start() {
	e.got, e.sent = 0, false
	Send(e.loop, &e.clientSend, e.client, e.msg, e, (*echoPair).onClientSend)
	Recv(e.loop, &e.clientRecv, e.client, e.reply, e, (*echoPair).onClientRecv)
}

func (e *echoPair) onClientSend(_ *Completion, _ int, err error) {
	if err != nil {
		e.fail(err)
		return
	}
	e.sent = true
	e.maybeNext()
}

func (e *echoPair) onClientRecv(c *Completion, n int, err error) {
	if err != nil {
		e.fail(err)
		return
	}
	if e.got += n; e.got < len(e.reply) {
		Recv(e.loop, c, e.client, e.reply[e.got:], e, (*echoPair).onClientRecv)
		return
	}
	e.maybeNext()
}

// maybeNext starts the next round trip once both halves of this one are
// done; after the last it shuts the client's writing side, which ends the
// server's Recv with io.EOF.
func (e *echoPair) maybeNext() {
	if !e.sent || e.got < len(e.reply) {
		return
	}
	if e.next() {
		e.start()
	} else if err := unix.Shutdown(e.client, unix.SHUT_WR); err != nil {
		e.fail(err)
	}
}

func (e *echoPair) serverRecv() {
	Recv(e.loop, &e.serverOp, e.server, e.echo, e, (*echoPair).onServerRecv)
}

func (e *echoPair) onServerRecv(c *Completion, n int, err error) {
	if err != nil { // io.EOF after the last round trip
		return
	}
	Send(e.loop, c, e.server, e.echo[:n], e, (*echoPair).onServerSend)
}

func (e *echoPair) onServerSend(_ *Completion, _ int, err error) {
	if err != nil {
		e.fail(err)
		return
	}
	e.serverRecv()
}

// BenchmarkOpEcho: one 64-byte round trip per operation over a unix
// socket pair (Send and Recv on each end: four operations).
func BenchmarkOpEcho(b *testing.B) {
	forEachOpsBackend(b, Options{}, func(b *testing.B, l *Loop) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if err != nil {
			b.Fatal(err)
		}
		for _, fd := range fds {
			b.Cleanup(func() { unix.Close(fd) })
			if err := unix.SetNonblock(fd, true); err != nil {
				b.Fatal(err)
			}
		}
		e := &echoPair{opsCounter: &opsCounter{loop: l}, client: fds[0], server: fds[1],
			msg: make([]byte, 64), reply: make([]byte, 64), echo: make([]byte, 4096)}
		e.serverRecv()
		runOps(b, e.opsCounter, 1, func(int) { e.start() })
	})
}

// fileReader reads 4 KiB blocks of a file in the page cache.
type fileReader struct {
	*opsCounter
	fd     int
	blocks int64
	block  int64 // of the next read
}

type readSlot struct {
	r   *fileReader
	op  Completion
	buf []byte
}

func (s *readSlot) submit() {
	r := s.r
	Read(r.loop, &s.op, r.fd, s.buf, (r.block%r.blocks)*4096, s, (*readSlot).onRead)
	r.block += 7 // a stride, so that the reads in flight touch different pages
}

func (s *readSlot) onRead(_ *Completion, n int, err error) {
	if err == nil && n != len(s.buf) {
		err = unix.EIO
	}
	if err != nil {
		s.r.fail(err)
	} else if s.r.next() {
		s.submit()
	}
}

// BenchmarkOpRead: 8 reads of 4 KiB in flight from a 1 MiB file in the
// page cache (the readiness backends run them on their worker pool).
func BenchmarkOpRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "data")
	if err := os.WriteFile(path, make([]byte, 1<<20), 0o600); err != nil {
		b.Fatal(err)
	}
	forEachOpsBackend(b, Options{}, func(b *testing.B, l *Loop) {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { unix.Close(fd) })
		r := &fileReader{opsCounter: &opsCounter{loop: l}, fd: fd, blocks: (1 << 20) / 4096}
		slots := make([]readSlot, 8)
		for i := range slots {
			slots[i] = readSlot{r: r, buf: make([]byte, 4096)}
		}
		runOps(b, r.opsCounter, len(slots), func(i int) { slots[i].submit() })
	})
}
