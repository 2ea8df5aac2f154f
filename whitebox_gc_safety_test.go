package ioloop

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
	"weak"
)

// The kernel holds pointers the garbage collector cannot see: buffers,
// iovecs, statx results, sockaddrs, timespecs, and the Completion itself.
// These tests make the loop the only owner of all of them: a submission
// helper allocates them and returns, the callback's context refers to the
// buffers only through weak pointers, and every object carries a cleanup
// that records its collection. Then they collect garbage, with a tiny
// GOGC, over and over while the operations are in flight, allocate
// poisoned memory to reuse anything freed by mistake, and check that every
// object survived until its callback and that every byte is right.

type gcKind uint8

const (
	gcRecv gcKind = iota
	gcReadv
	gcFileRead
	gcPipeRead
	gcStatx
	gcConnect
	gcTimeout
	gcSend
)

var gcKindNames = [...]string{"Recv", "Readv", "Read(file)", "Read(pipe)", "Statx", "Connect", "Timeout", "Send"}

// gcTracker is shared by the loop goroutine and the cleanup goroutines;
// only collected is touched by the latter.
type gcTracker struct {
	collected []atomic.Bool // by tracked-object index
	objects   int
	calls     []int // by operation id
	ops       int
	failures  []string
}

func newGCTracker(maxObjects, maxOps int) *gcTracker {
	return &gcTracker{collected: make([]atomic.Bool, maxObjects), calls: make([]int, maxOps)}
}

func (tr *gcTracker) failf(format string, args ...any) {
	if len(tr.failures) < 20 {
		tr.failures = append(tr.failures, fmt.Sprintf(format, args...))
	}
}

// gcWatch attaches a cleanup to ptr that records its collection and
// returns the object's index.
func gcWatch[T any](tr *gcTracker, ptr *T) int {
	id := tr.objects
	tr.objects++
	runtime.AddCleanup(ptr, func(id int) { tr.collected[id].Store(true) }, id)
	return id
}

// gcOp is the callback context. It refers to what the kernel writes only
// through weak pointers, so that the loop's references are the only strong
// ones.
type gcOp struct {
	l    *Loop
	tr   *gcTracker
	id   int
	kind gcKind
	objs []int // tracked objects that must outlive the callback's start

	bufs []weak.Pointer[byte]
	lens []int
	seed uint64
	off  int // pattern position of the first byte

	stat     weak.Pointer[statxBuffer]
	wantSize int64
	wantIno  uint64

	fd   int
	addr netip.AddrPort

	d         time.Duration
	submitted time.Time
}

func (op *gcOp) onIO(_ *Completion, n int, err error) { op.check(n, err) }
func (op *gcOp) onErr(_ *Completion, err error)       { op.check(0, err) }

func (op *gcOp) check(n int, err error) {
	tr := op.tr
	tr.calls[op.id]++
	what := fmt.Sprintf("%s #%d", gcKindNames[op.kind], op.id)
	for _, obj := range op.objs {
		if tr.collected[obj].Load() {
			tr.failf("%s: an object the kernel used was collected before its callback", what)
		}
	}
	if err != nil {
		tr.failf("%s: %v", what, err)
		return
	}
	switch op.kind {
	case gcRecv, gcReadv, gcFileRead, gcPipeRead:
		total := 0
		for _, l := range op.lens {
			total += l
		}
		if n != total {
			tr.failf("%s: n=%d, want %d", what, n, total)
			return
		}
		pos := op.off
		for i, wp := range op.bufs {
			p := wp.Value()
			if p == nil {
				tr.failf("%s: buffer %d was collected while in flight", what, i)
				return
			}
			buf := unsafe.Slice(p, op.lens[i])
			if j := firstStressMismatch(buf, op.seed, pos); j >= 0 {
				tr.failf("%s: buffer %d byte %d is %#x, want %#x", what, i, j, buf[j], stressPatternByte(op.seed, pos+j))
				return
			}
			pos += op.lens[i]
		}
	case gcStatx:
		st := op.stat.Value()
		if st == nil {
			tr.failf("%s: the statx buffer was collected while in flight", what)
			return
		}
		op.checkStatx(tr, what, st)
	case gcConnect:
		peer, err := op.l.RemoteAddr(op.fd)
		if err != nil || peer != op.addr {
			tr.failf("%s: connected to %v (%v), want %v", what, peer, err, op.addr)
		}
	case gcTimeout:
		if elapsed := op.l.Now().Sub(op.submitted); elapsed < op.d {
			tr.failf("%s: fired after %v, want >= %v", what, elapsed, op.d)
		}
	case gcSend:
		if n != op.lens[0] {
			tr.failf("%s: n=%d, want %d", what, n, op.lens[0])
		}
	}
}

// newOp allocates the context and the Completion separately, so that the
// context is reachable only through the Completion's ctx.
func (tr *gcTracker) newOp(l *Loop, kind gcKind) (*gcOp, *Completion) {
	op := &gcOp{l: l, tr: tr, id: tr.ops, kind: kind}
	tr.ops++
	c := new(Completion)
	op.objs = append(op.objs, gcWatch(tr, op), gcWatch(tr, c))
	return op, c
}

// buffer allocates a tracked buffer that op refers to weakly.
func (op *gcOp) buffer(n int) []byte {
	buf := make([]byte, n)
	op.objs = append(op.objs, gcWatch(op.tr, &buf[0]))
	op.bufs = append(op.bufs, weak.Make(&buf[0]))
	op.lens = append(op.lens, n)
	return buf
}

// The submission helpers below allocate everything an operation needs and
// return nothing, so that when they return the loop holds the only strong
// references. They must not be inlined into a caller that keeps locals.

//go:noinline
func gcSubmitRecv(l *Loop, tr *gcTracker, fd int, size int, seed uint64) {
	op, c := tr.newOp(l, gcRecv)
	op.seed = seed
	Recv(l, c, fd, op.buffer(size), op, (*gcOp).onIO)
}

//go:noinline
func gcSubmitReadv(l *Loop, tr *gcTracker, fd int, sizes []int, seed uint64) {
	op, c := tr.newOp(l, gcReadv)
	op.seed = seed
	bufs := make([][]byte, len(sizes))
	for i, n := range sizes {
		bufs[i] = op.buffer(n)
	}
	op.objs = append(op.objs, gcWatch(tr, &bufs[0]))
	Readv(l, c, fd, bufs, -1, op, (*gcOp).onIO)
}

//go:noinline
func gcSubmitRead(l *Loop, tr *gcTracker, kind gcKind, fd int, size int, offset int64, seed uint64) {
	op, c := tr.newOp(l, kind)
	op.seed = seed
	if offset >= 0 {
		op.off = int(offset)
	}
	Read(l, c, fd, op.buffer(size), offset, op, (*gcOp).onIO)
}

//go:noinline
func gcSubmitConnect(l *Loop, tr *gcTracker, fd int, addr netip.AddrPort) {
	op, c := tr.newOp(l, gcConnect)
	op.fd, op.addr = fd, addr
	Connect(l, c, fd, addr, op, (*gcOp).onErr)
}

//go:noinline
func gcSubmitTimeout(l *Loop, tr *gcTracker, d time.Duration) {
	op, c := tr.newOp(l, gcTimeout)
	op.d, op.submitted = d, l.Now()
	Timeout(l, c, d, op, (*gcOp).onErr)
}

//go:noinline
func gcSubmitSend(l *Loop, tr *gcTracker, fd int, size int, seed uint64) {
	op, c := tr.newOp(l, gcSend)
	buf := op.buffer(size)
	fillStressPattern(buf, seed, 0)
	Send(l, c, fd, buf, op, (*gcOp).onIO)
}

// gcFixture is the file, sockets and listener the GC tests use.
type gcFixture struct {
	fds      *testFDs
	path     string
	fileFD   int
	fileSize int64
	fileIno  uint64
	listenFD int
	addr     netip.AddrPort
}

const gcFileSeed = 99

func newGCFixture(t *testing.T, l *Loop) *gcFixture {
	f := &gcFixture{fds: newTestFDs(t, l)}
	data := make([]byte, 1<<20)
	fillStressPattern(data, gcFileSeed, 0)
	f.path = joinPath(l, tempDir(t, l), "pattern")
	f.fileSize = int64(len(data))
	if simOf(l) != nil {
		simOf(l).node.WriteFile(f.path, data)
		f.fileFD = f.fds.add(openFile(t, l, f.path, sysO_RDONLY))
		f.fileIno = simFileIno(t, l, f.path)
	} else {
		if err := os.WriteFile(f.path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f.fileFD = openFile(t, l, f.path, sysO_RDONLY) // closed at cleanup
		f.fileIno = kernelFileIno(t, f.fileFD)
	}
	lfd, addr, err := l.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.listenFD, f.addr = f.fds.add(lfd), addr
	return f
}

func (f *gcFixture) tcpSocket(t *testing.T) int {
	fd, err := f.fds.l.TCPSocket(f.addr)
	if err != nil {
		t.Fatal(err)
	}
	return f.fds.add(fd)
}

// pipe returns the two ends of a pipe (kernelPipe); on the simulator,
// which has no pipes, of a TCP connection.
func (f *gcFixture) pipe(t *testing.T) (r, w int) {
	if f.fds.simulated() {
		w, r = f.fds.socketPair()
		return r, w
	}
	return f.kernelPipe(t)
}

func (tr *gcTracker) verify(t *testing.T, l *Loop) {
	t.Helper()
	for _, f := range tr.failures {
		t.Error(f)
	}
	for id := 0; id < tr.ops; id++ {
		if tr.calls[id] != 1 {
			t.Errorf("operation %d: %d callbacks, want exactly one", id, tr.calls[id])
		}
	}
	if p := l.Pending(); p != 0 {
		t.Errorf("Pending() = %d", p)
	}
	if t.Failed() {
		t.FailNow()
	}
}

func (tr *gcTracker) allCalled() bool {
	for id := 0; id < tr.ops; id++ {
		if tr.calls[id] == 0 {
			return false
		}
	}
	return true
}

// Many operations of every kind in flight at once, owned only by the loop,
// while the collector runs again and again.
func TestGCSafetyInFlight(t *testing.T) {
	withLowGCPercent(t)
	forEachBackend(t, Options{Entries: 8}, func(t *testing.T, l *Loop) {
		fx := newGCFixture(t, l)
		tr := newGCTracker(4096, 512)

		// Sockets and pipes whose data the test writes only after several
		// collections: these operations wait in the kernel meanwhile.
		type waiting struct {
			fd   int // where the test writes
			seed uint64
			size int
		}
		var writes []waiting
		for i := 0; i < 16; i++ {
			a, b := fx.fds.socketPair()
			seed := uint64(1000 + i)
			gcSubmitRecv(l, tr, b, 4096, seed)
			writes = append(writes, waiting{a, seed, 4096})
		}
		for i := 0; i < 8; i++ {
			a, b := fx.fds.socketPair()
			seed := uint64(2000 + i)
			gcSubmitReadv(l, tr, b, []int{100, 1000, 2996}, seed)
			writes = append(writes, waiting{a, seed, 4096})
		}
		for i := 0; i < 4; i++ {
			r, w := fx.pipe(t)
			seed := uint64(3000 + i)
			gcSubmitRead(l, tr, gcPipeRead, r, 4096, -1, seed)
			writes = append(writes, waiting{w, seed, 4096})
		}
		// Large Sends into peers that read only later.
		var peers []*gcSendPeer
		const sendSize = 256 << 10
		for i := 0; i < 4; i++ {
			a, b := fx.fds.socketPair()
			fx.fds.setSndBuf(a, 8<<10)
			seed := uint64(4000 + i)
			gcSubmitSend(l, tr, a, sendSize, seed)
			peers = append(peers, &gcSendPeer{fd: b, seed: seed})
		}
		// Operations that complete on their own, most of them queued behind
		// the small SQ when the first collections run.
		for i := 0; i < 64; i++ {
			gcSubmitRead(l, tr, gcFileRead, fx.fileFD, 4096, int64(i*13331), gcFileSeed)
		}
		for i := 0; i < 16; i++ {
			gcSubmitStatx(l, tr, fx.path, fx.fileSize, fx.fileIno)
		}
		for i := 0; i < 8; i++ {
			gcSubmitConnect(l, tr, fx.tcpSocket(t), fx.addr)
		}
		for i := 0; i < 32; i++ {
			gcSubmitTimeout(l, tr, time.Duration(1+i)*time.Millisecond)
		}

		for i := 0; i < 10; i++ {
			collectAndPoison()
			if err := l.RunFor(2 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		for id := 0; id < 28; id++ {
			if tr.calls[id] != 0 {
				t.Fatalf("operation %d completed before its data was written", id)
			}
		}
		for i, w := range writes {
			data := make([]byte, w.size)
			fillStressPattern(data, w.seed, 0)
			stressWrite(t, l, w.fd, data)
			if i%4 == 0 {
				collectAndPoison()
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for !tr.allCalled() || !peersDone(peers, sendSize) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out; failures so far: %v", tr.failures)
			}
			collectAndPoison()
			if err := l.RunFor(time.Millisecond); err != nil {
				t.Fatal(err)
			}
			for _, p := range peers {
				if len(p.got) < sendSize {
					p.got = stressDrain(t, l, p.fd, p.got)
				}
			}
		}
		tr.verify(t, l)
		for i, p := range peers {
			if len(p.got) != sendSize {
				t.Fatalf("send peer %d received %d bytes, want %d", i, len(p.got), sendSize)
			}
			if j := firstStressMismatch(p.got, p.seed, 0); j >= 0 {
				t.Fatalf("send peer %d: byte %d is wrong", i, j)
			}
		}
	})
}

// gcSendPeer reads what a Send under test delivers.
type gcSendPeer struct {
	fd   int
	seed uint64
	got  []byte
}

func peersDone(peers []*gcSendPeer, size int) bool {
	for _, p := range peers {
		if len(p.got) < size {
			return false
		}
	}
	return true
}

// Round after round, a collection runs between each submission and its
// completion.
func TestGCSafetyRounds(t *testing.T) {
	withLowGCPercent(t)
	const rounds = 200
	forEachBackend(t, Options{Entries: 4}, func(t *testing.T, l *Loop) {
		fx := newGCFixture(t, l)
		a, b := fx.fds.socketPair()
		pr, pw := fx.pipe(t)
		tr := newGCTracker(rounds*40, rounds*10)
		for round := 0; round < rounds; round++ {
			seed := uint64(10000 + round)
			gcSubmitRecv(l, tr, b, 1+round%4096, seed)
			gcSubmitReadv(l, tr, pr, []int{1 + round%7, 64, 1 + round%300}, seed+1)
			gcSubmitRead(l, tr, gcFileRead, fx.fileFD, 1+round*37%8192, int64(round*4099), gcFileSeed)
			gcSubmitStatx(l, tr, fx.path, fx.fileSize, fx.fileIno)
			gcSubmitTimeout(l, tr, time.Duration(round%3)*100*time.Microsecond)
			if round%10 == 0 {
				gcSubmitConnect(l, tr, fx.tcpSocket(t), fx.addr)
			}
			// Hand everything to the kernel, collect, and only then let
			// the socket and pipe operations complete.
			if err := l.Tick(); err != nil {
				t.Fatal(err)
			}
			collectAndPoison()
			data := make([]byte, 1+round%4096)
			fillStressPattern(data, seed, 0)
			stressWrite(t, l, a, data)
			vdata := make([]byte, 1+round%7+64+1+round%300)
			fillStressPattern(vdata, seed+1, 0)
			stressWrite(t, l, pw, vdata)
			runShort(t, l, 3*time.Second, tr.allCalled)
			if len(tr.failures) > 0 {
				break
			}
		}
		tr.verify(t, l)
	})
}
