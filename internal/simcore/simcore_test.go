package simcore

import (
	"bytes"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// recorder is a Host that records results by token.
type recorder struct {
	results map[uint64]int32
	stats   map[uint64]Stat
}

func newRecorder() *recorder {
	return &recorder{results: map[uint64]int32{}, stats: map[uint64]Stat{}}
}

func (r *recorder) Complete(token uint64, res int32) {
	if _, dup := r.results[token]; dup {
		panic("two results for one token")
	}
	r.results[token] = res
}
func (r *recorder) FillStat(token uint64, st *Stat)            { r.stats[token] = *st }
func (r *recorder) FillMessage(uint64, netip.AddrPort, uint32) {}
func (r *recorder) Ready() bool                                { return false }
func (r *recorder) RunReady()                                  {}

// rig drives one node's requests synchronously.
type rig struct {
	t     *testing.T
	w     *World
	n     *Node
	host  *recorder
	token uint64
}

func newRig(t *testing.T, cfg Config) *rig {
	w := NewWorld(cfg)
	n := w.NewNode("n", netip.MustParseAddr("10.0.0.1"))
	r := &rig{t: t, w: w, n: n, host: newRecorder()}
	n.Attach(r.host)
	return r
}

// do submits req and runs the world until it completes.
func (r *rig) do(req Request) int32 {
	r.t.Helper()
	r.token++
	req.Token = 1<<32 | r.token
	r.n.Submit(&req)
	for i := 0; i < 1000; i++ {
		if res, ok := r.host.results[req.Token]; ok {
			delete(r.host.results, req.Token)
			return res
		}
		if err := r.w.Poll(nil, int64(time.Second)); err != nil {
			r.t.Fatal(err)
		}
	}
	r.t.Fatalf("%v did not complete", req.Kind)
	return 0
}

func (r *rig) open(path string, flags uint32) int {
	r.t.Helper()
	fd := r.do(Request{Kind: KindOpenAt, FD: AtCWD, Path: []byte(path), Flags: flags})
	if fd < 0 {
		r.t.Fatalf("open %s: %v", path, syscall.Errno(-fd))
	}
	return int(fd)
}

func (r *rig) write(fd int, b []byte, offset int64) int32 {
	return r.do(Request{Kind: KindWrite, FD: fd, Buf: b, Offset: offset})
}

func (r *rig) readAll(path string) []byte {
	r.t.Helper()
	fd := r.open(path, OpenRead)
	buf := make([]byte, 1<<20)
	n := r.do(Request{Kind: KindRead, FD: fd, Buf: buf, Offset: 0})
	if n < 0 {
		r.t.Fatalf("read: %v", syscall.Errno(-n))
	}
	r.do(Request{Kind: KindClose, FD: fd})
	return buf[:n]
}

// syncDir makes the entries of the directory at path durable, as a
// program does: open it with O_DIRECTORY and Fsync it.
func (r *rig) syncDir(path string) {
	r.t.Helper()
	fd := r.open(path, OpenRead|OpenDirectory)
	if res := r.do(Request{Kind: KindFsync, FD: fd}); res != 0 {
		r.t.Fatalf("fsync of directory %s: %v", path, syscall.Errno(-res))
	}
	r.do(Request{Kind: KindClose, FD: fd})
}

func (r *rig) crash() {
	r.n.Crash()
	r.host = newRecorder()
	r.n.Attach(r.host)
}

// TestCrashKeepsSyncedAndTearsUnsynced checks the crash model over many
// seeds: synced data always survives; unsynced sectors are sometimes kept,
// sometimes lost, and a multi-sector write is sometimes torn.
func TestCrashKeepsSyncedAndTearsUnsynced(t *testing.T) {
	const sector = 4096
	synced := bytes.Repeat([]byte{'s'}, 2*sector)
	unsynced := bytes.Repeat([]byte{'u'}, 4*sector)
	var kept, lost, torn int
	for seed := uint64(1); seed <= 200; seed++ {
		r := newRig(t, Config{Seed: seed})
		fd := r.open("/f", OpenRead|OpenWrite|OpenCreate)
		r.write(fd, synced, 0)
		if res := r.do(Request{Kind: KindFsync, FD: fd}); res != 0 {
			t.Fatalf("fsync: %d", res)
		}
		r.syncDir("/")
		r.write(fd, unsynced, int64(len(synced)))
		r.crash()
		got := r.readAll("/f")
		if len(got) < len(synced) || !bytes.Equal(got[:len(synced)], synced) {
			t.Fatalf("seed %d: synced data damaged by a crash", seed)
		}
		tail := got[len(synced):]
		us := bytes.Count(tail, []byte{'u'})
		switch {
		case us == len(unsynced):
			kept++
		case us == 0:
			lost++
		default:
			torn++
			if us%sector != 0 {
				t.Fatalf("seed %d: torn inside a sector (%d bytes survived)", seed, us)
			}
		}
	}
	t.Logf("unsynced 4-sector write after a crash: kept %d, lost %d, torn %d (of 200 seeds)", kept, lost, torn)
	if kept == 0 || lost == 0 || torn == 0 {
		t.Fatal("the crash model should produce every outcome across 200 seeds")
	}
}

func TestNeverSyncedFileMayVanish(t *testing.T) {
	var vanished, survived int
	for seed := uint64(1); seed <= 100; seed++ {
		r := newRig(t, Config{Seed: seed})
		r.open("/new", OpenWrite|OpenCreate)
		r.crash()
		if res := r.do(Request{Kind: KindOpenAt, FD: AtCWD, Path: []byte("/new"), Flags: OpenRead}); res == -int32(syscall.ENOENT) {
			vanished++
		} else {
			survived++
		}
	}
	if vanished == 0 || survived == 0 {
		t.Fatalf("vanished %d, survived %d: want both", vanished, survived)
	}
}

func TestFsyncErrorLosesTheData(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	fd := r.open("/f", OpenRead|OpenWrite|OpenCreate)
	r.do(Request{Kind: KindFsync, FD: fd})
	r.syncDir("/")
	r.write(fd, bytes.Repeat([]byte{'x'}, 4096), 0)
	r.w.cfg.Faults.FsyncError = 1
	if res := r.do(Request{Kind: KindFsync, FD: fd}); res != -int32(syscall.EIO) {
		t.Fatalf("fsync = %d, want -EIO", res)
	}
	r.w.cfg.Faults.FsyncError = 0
	if res := r.do(Request{Kind: KindFsync, FD: fd}); res != 0 {
		t.Fatalf("second fsync = %d, want success (the pages are clean)", res)
	}
	// Reads still see the data; a crash loses it however the dice fall.
	if got := r.readAll("/f"); !bytes.Equal(got, bytes.Repeat([]byte{'x'}, 4096)) {
		t.Fatal("page cache lost the data before the crash")
	}
	r.crash()
	if got := r.readAll("/f"); bytes.Contains(got, []byte{'x'}) {
		t.Fatalf("data whose Fsync failed survived a crash: %d bytes", len(got))
	}
}

func TestStickyAndTransientSectorErrors(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	fd := r.open("/f", OpenRead|OpenWrite|OpenCreate)
	r.write(fd, make([]byte, 3*4096), 0)
	buf := make([]byte, 4096)
	read := func(offset int64) int32 { return r.do(Request{Kind: KindRead, FD: fd, Buf: buf, Offset: offset}) }

	r.w.cfg.Faults.ReadError, r.w.cfg.Faults.StickyErrors = 1, 0
	if res := read(0); res != -int32(syscall.EIO) {
		t.Fatalf("read with ReadError=1: %d", res)
	}
	r.w.cfg.Faults.ReadError = 0
	if res := read(0); res != 4096 {
		t.Fatalf("transient error stuck: %d", res)
	}
	r.w.cfg.Faults.ReadError, r.w.cfg.Faults.StickyErrors = 1, 1
	if res := read(4096); res != -int32(syscall.EIO) {
		t.Fatalf("read: %d", res)
	}
	r.w.cfg.Faults.ReadError = 0
	if res := read(4096); res != -int32(syscall.EIO) {
		t.Fatalf("sticky error did not stick: %d", res)
	}
	if res := read(8192); res != 4096 {
		t.Fatalf("a bad sector spread to its neighbour: %d", res)
	}
	if res := r.write(fd, buf, 4096); res != 4096 {
		t.Fatalf("rewrite: %d", res)
	}
	if res := read(4096); res != 4096 {
		t.Fatalf("rewriting did not remap the bad sector: %d", res)
	}
	r.w.cfg.Faults.WriteError = 1
	if res := r.write(fd, buf, 0); res != -int32(syscall.EIO) {
		t.Fatalf("write with WriteError=1: %d", res)
	}
}

func TestOpenFlags(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	open := func(path string, flags uint32) int32 {
		return r.do(Request{Kind: KindOpenAt, FD: AtCWD, Path: []byte(path), Flags: flags})
	}
	if res := open("/a", OpenRead); res != -int32(syscall.ENOENT) {
		t.Fatalf("open missing: %d", res)
	}
	fd := int(open("a", OpenWrite|OpenCreate|OpenExclusive))
	if fd != firstFD {
		t.Fatalf("first descriptor %d, want %d", fd, firstFD)
	}
	if res := open("/a", OpenWrite|OpenCreate|OpenExclusive); res != -int32(syscall.EEXIST) {
		t.Fatalf("O_EXCL on existing: %d", res)
	}
	r.write(fd, []byte("hello"), -1)
	r.write(fd, []byte(" world"), -1)
	if res := r.do(Request{Kind: KindRead, FD: fd, Buf: make([]byte, 4)}); res != -int32(syscall.EBADF) {
		t.Fatalf("read on write-only: %d", res)
	}
	appendFD := int(open("./a", OpenWrite|OpenAppend))
	r.write(appendFD, []byte("!"), 0)
	if got := string(r.readAll("/a")); got != "hello world!" {
		t.Fatalf("file = %q", got)
	}
	trunc := int(open("/a", OpenWrite|OpenTruncate))
	r.do(Request{Kind: KindStatx, FD: trunc, Flags: StatEmptyPath})
	for token, st := range r.host.stats {
		if st.SizeBytes != 0 {
			t.Fatalf("size after O_TRUNC: %d", st.SizeBytes)
		}
		delete(r.host.stats, token)
	}
	if res := r.do(Request{Kind: KindClose, FD: 99}); res != -int32(syscall.EBADF) {
		t.Fatalf("close of a bad fd: %d", res)
	}
}

func TestRandIsDeterministic(t *testing.T) {
	a, b, c := NewRand(1), NewRand(1), NewRand(2)
	same, differs := true, false
	for i := 0; i < 100; i++ {
		x, y, z := a.Uint64(), b.Uint64(), c.Uint64()
		same = same && x == y
		differs = differs || x != z
	}
	if !same || !differs {
		t.Fatal("the generator must depend on the seed and only on it")
	}
	for i := 0; i < 1000; i++ {
		if v := a.Intn(7); v < 0 || v >= 7 {
			t.Fatalf("Intn(7) = %d", v)
		}
		if d := a.Between(time.Millisecond, 2*time.Millisecond); d < int64(time.Millisecond) || d > int64(2*time.Millisecond) {
			t.Fatalf("Between = %d", d)
		}
	}
}
