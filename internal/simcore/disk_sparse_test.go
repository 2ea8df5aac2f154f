package simcore

import (
	"bytes"
	"math"
	"runtime"
	"syscall"
	"testing"
)

const tib = int64(1) << 40

// statSize returns the size and 512-byte blocks Statx reports for fd.
func (r *rig) statSize(fd int) (sizeBytes, blocks int64) {
	r.t.Helper()
	if res := r.do(Request{Kind: KindStatx, FD: fd, Flags: StatEmptyPath}); res != 0 {
		r.t.Fatalf("statx: %v", syscall.Errno(-res))
	}
	for token, st := range r.host.stats {
		delete(r.host.stats, token)
		return st.SizeBytes, st.Blocks
	}
	r.t.Fatal("statx reported nothing")
	return 0, 0
}

func (r *rig) readAt(fd int, size int, offset int64) []byte {
	r.t.Helper()
	buf := bytes.Repeat([]byte{0xff}, size)
	n := r.do(Request{Kind: KindRead, FD: fd, Buf: buf, Offset: offset})
	if n < 0 {
		r.t.Fatalf("read at %d: %v", offset, syscall.Errno(-n))
	}
	return buf[:n]
}

// TestSparseWriteCostsOneSector: a 1-byte write at 1 TiB allocates one
// sector, not a terabyte; the size, the blocks and the hole are right.
func TestSparseWriteCostsOneSector(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	fd := r.open("/f", OpenRead|OpenWrite|OpenCreate)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if res := r.write(fd, []byte("X"), tib); res != 1 {
		t.Fatalf("write at 1 TiB: %d", res)
	}
	if res := r.do(Request{Kind: KindFsync, FD: fd}); res != 0 {
		t.Fatalf("fsync: %d", res)
	}
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Fatalf("a 1-byte write at 1 TiB and its fsync allocated %d bytes", grown)
	}
	size, blocks := r.statSize(fd)
	if size != tib+1 || blocks != 8 {
		t.Fatalf("size %d, blocks %d; want %d and 8 (one 4 KiB sector)", size, blocks, tib+1)
	}
	if got := r.readAt(fd, 4, tib-2); !bytes.Equal(got, []byte("\x00\x00X")) {
		t.Fatalf("read across the end: %q", got)
	}
	if got := r.readAt(fd, 3, 12345); !bytes.Equal(got, []byte{0, 0, 0}) {
		t.Fatalf("read of the hole: %q", got)
	}
	// Readv across a hole and the written sector.
	bufs := [][]byte{make([]byte, 1), bytes.Repeat([]byte{0xff}, 2), make([]byte, 5)}
	if n := r.do(Request{Kind: KindReadv, FD: fd, Bufs: bufs, Offset: tib - 2}); n != 3 {
		t.Fatalf("readv: %d", n)
	}
	if bufs[0][0] != 0 || !bytes.Equal(bufs[1], []byte{0, 'X'}) {
		t.Fatalf("readv got %q %q", bufs[0], bufs[1])
	}
}

// TestSparseCrash: the crash model over a sparse file. A synced far write
// survives every crash; an unsynced one survives or vanishes (and the size
// with it) depending on the seed, never leaving anything but zeros or the
// byte written.
func TestSparseCrash(t *testing.T) {
	var kept, lost int
	for seed := uint64(1); seed <= 100; seed++ {
		r := newRig(t, Config{Seed: seed})
		fd := r.open("/f", OpenRead|OpenWrite|OpenCreate)
		r.write(fd, []byte("S"), tib)
		r.do(Request{Kind: KindFsync, FD: fd})
		r.syncDir("/")
		r.write(fd, []byte("U"), 2*tib)
		r.crash()
		fd = r.open("/f", OpenRead)
		if got := r.readAt(fd, 1, tib); !bytes.Equal(got, []byte("S")) {
			t.Fatalf("seed %d: synced byte at 1 TiB = %q after a crash", seed, got)
		}
		size, _ := r.statSize(fd)
		switch got := r.readAt(fd, 1, 2*tib); {
		case size == 2*tib+1 && bytes.Equal(got, []byte("U")):
			kept++
		case size == 2*tib+1 && bytes.Equal(got, []byte{0}):
			// The size survived, the sector did not: a hole.
			lost++
		case size == tib+1 && len(got) == 0:
			lost++
		default:
			t.Fatalf("seed %d: size %d, byte at 2 TiB %q", seed, size, got)
		}
	}
	if kept == 0 || lost == 0 {
		t.Fatalf("unsynced far write kept %d, lost %d times: want both", kept, lost)
	}
}

// TestTruncateThenExtendReadsZeros: O_TRUNC drops the pages, so growing
// the file again shows zeros, not the old contents, before and after a
// crash.
func TestTruncateThenExtendReadsZeros(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	fd := r.open("/f", OpenRead|OpenWrite|OpenCreate)
	r.write(fd, bytes.Repeat([]byte{'o'}, 3*4096), 0)
	r.do(Request{Kind: KindFsync, FD: fd})
	r.syncDir("/")
	trunc := r.open("/f", OpenRead|OpenWrite|OpenTruncate)
	r.write(trunc, []byte("n"), 8191)
	want := append(make([]byte, 8191), 'n')
	if got := r.readAt(trunc, 3*4096, 0); !bytes.Equal(got, want) {
		t.Fatalf("after O_TRUNC and a write at 8191: %d bytes, %d of them 'o'", len(got), bytes.Count(got, []byte{'o'}))
	}
	r.do(Request{Kind: KindFsync, FD: trunc})
	r.crash()
	fd = r.open("/f", OpenRead)
	if got := r.readAt(fd, 3*4096, 0); !bytes.Equal(got, want) {
		t.Fatalf("after a crash: %d bytes, %d of them 'o'", len(got), bytes.Count(got, []byte{'o'}))
	}
}

// TestFileSizeLimits: ext4's (4 KiB blocks) limits, measured on Linux
// 6.18: a write at or past 16 TiB - 4 KiB fails with EFBIG, one crossing
// it is short, and one whose end overflows an offset fails with EINVAL.
func TestFileSizeLimits(t *testing.T) {
	r := newRig(t, Config{Seed: 1})
	fd := r.open("/f", OpenRead|OpenWrite|OpenCreate)
	for _, tc := range []struct {
		offset int64
		buf    string
		want   int32
	}{
		{maxFileBytes - 1, "X", 1},
		{maxFileBytes - 1, "XY", 1},
		{maxFileBytes, "X", -int32(syscall.EFBIG)},
		{math.MaxInt64 - 1, "X", -int32(syscall.EFBIG)},
		{math.MaxInt64, "X", -int32(syscall.EINVAL)},
		{math.MaxInt64, "", 0},
	} {
		if got := r.write(fd, []byte(tc.buf), tc.offset); got != tc.want {
			t.Errorf("write of %d bytes at %d = %d, want %d", len(tc.buf), tc.offset, got, tc.want)
		}
	}
	if size, _ := r.statSize(fd); size != maxFileBytes {
		t.Fatalf("size %d, want %d", size, int64(maxFileBytes))
	}
}
