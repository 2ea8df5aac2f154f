//go:build !windows

package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
	"golang.org/x/sys/cpu"
	"golang.org/x/sys/unix"
)

// readTarget is what both engines of bench read read from: an open file
// of whole blocks, and how to pick one at random.
type readTarget struct {
	fd       int
	bs       int
	blocks   uint64 // whole blocks in the file: offsets are block * bs
	memAlign int    // alignment of read buffers (O_DIRECT)
}

// randomOffset returns the offset of a uniformly random block. Uint64N on
// a PCG source neither allocates nor biases the offsets.
func (t *readTarget) randomOffset(rng *rand.Rand) int64 {
	return int64(rng.Uint64N(t.blocks)) * int64(t.bs)
}

// newRNG returns the offset generator of one reader; stream separates the
// goroutines of the readat engine, which each have their own. Stream 0 is
// the ioloop engine's, the same sequence for a seed as before there were
// streams.
func newRNG(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15^stream))
}

// readResult is what an engine measured: reads completed over iv, and
// (ioloop engine) the heap allocations made meanwhile.
type readResult struct {
	ops    int64
	iv     proc.Interval
	allocs uint64
}

// heapAllocs is the number of heap objects the process has allocated so
// far. It stops the world briefly: call it only at the edges of a
// measurement.
func heapAllocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// Values of `bench read -mode`: which of the loop's registered resources
// the ioloop engine's reads use (ops_fixed.go in the library).
const (
	readModePlain     = "plain"     // Read on the descriptor
	readModeFixedBuf  = "fixedbuf"  // ReadFixed into registered buffers
	readModeFixedFile = "fixedfile" // Read on the descriptor registered with RegisterFile
	readModeFixed     = "fixed"     // both
)

// readMode says which registered resources readLoop uses.
type readMode struct {
	buffers bool // RegisterBuffers, and ReadFixed instead of Read
	file    bool // RegisterFile
}

func parseReadMode(mode string) readMode {
	return readMode{
		buffers: mode == readModeFixedBuf || mode == readModeFixed,
		file:    mode == readModeFixedFile || mode == readModeFixed,
	}
}

// readBench keeps qd random reads in flight against one file. Each reader
// owns a Completion and an aligned buffer; its callback immediately
// resubmits at a new random block, so the queue depth stays at qd, like
// fio's io_uring engine at --iodepth.
type readBench struct {
	loop     *ioloop.Loop
	target   *readTarget
	rng      *rand.Rand
	fixedBuf bool // ReadFixed instead of Read
	ops      int64
	stopping bool
	err      error
}

type reader struct {
	bench *readBench
	c     ioloop.Completion
	buf   []byte
}

// submit reads one block at a random block-aligned offset.
func (r *reader) submit() {
	b := r.bench
	if b.fixedBuf {
		ioloop.ReadFixed(b.loop, &r.c, b.target.fd, r.buf, b.target.randomOffset(b.rng), r, (*reader).onRead)
		return
	}
	ioloop.Read(b.loop, &r.c, b.target.fd, r.buf, b.target.randomOffset(b.rng), r, (*reader).onRead)
}

func (r *reader) onRead(_ *ioloop.Completion, n int, err error) {
	b := r.bench
	if err == nil && n != len(r.buf) {
		// A block inside the file never reads short; counting one
		// would inflate the rate.
		err = fmt.Errorf("short read: %d of %d bytes", n, len(r.buf))
	}
	if err != nil {
		if b.err == nil {
			b.err = err
		}
		b.stopping = true
		return
	}
	b.ops++
	if !b.stopping {
		r.submit()
	}
}

// readLoop is the ioloop engine: qd reads in flight on loop for duration,
// using the registered resources mode names. Every reader's buffer is a
// slice of one aligned arena, in every mode, so that the modes differ only
// in the operation and the registrations: with mode.buffers the arena is
// the one registered buffer.
func readLoop(loop *ioloop.Loop, t *readTarget, qd int, seed uint64, duration time.Duration, mode readMode) (readResult, error) {
	bench := &readBench{loop: loop, target: t, rng: newRNG(seed, 0), fixedBuf: mode.buffers}
	stride := (t.bs + t.memAlign - 1) / t.memAlign * t.memAlign // every buffer starts aligned
	arena := ioloop.AlignedBuffer(qd*stride, t.memAlign)
	readers := make([]reader, qd)
	for i := range readers {
		readers[i] = reader{bench: bench, buf: arena[i*stride : i*stride+t.bs : i*stride+t.bs]}
	}
	if mode.buffers {
		if err := loop.RegisterBuffers([][]byte{arena}); err != nil {
			return readResult{}, fmt.Errorf("registering %d bytes of read buffers (RLIMIT_MEMLOCK applies): %w", len(arena), err)
		}
	}
	if mode.file {
		if err := loop.RegisterFile(t.fd); err != nil {
			return readResult{}, err
		}
		// The caller closes fd after Loop.Close, which drops the table
		// anyway; unregistering here keeps the rule of RegisterFile local.
		defer func() { _ = loop.UnregisterFile(t.fd) }()
	}
	allocsStart := heapAllocs()
	m := proc.StartMeter()
	for i := range readers {
		readers[i].submit()
	}
	runErr := loop.RunFor(duration)
	// Snapshot before draining: the reads still in flight finish below
	// without resubmitting and are not counted.
	ops := bench.ops
	iv := m.Stop()
	allocs := heapAllocs() - allocsStart
	bench.stopping = true
	if runErr == nil {
		runErr = loop.Run()
	}
	return readResult{ops: ops, iv: iv, allocs: allocs}, errors.Join(runErr, bench.err)
}

// readAtWorker is one goroutine of the readat engine. Its counter sits on
// its own cache line: the workers run on different CPUs and would
// otherwise slow each other down updating neighbouring counters.
type readAtWorker struct {
	ops atomic.Int64
	_   cpu.CacheLinePad
}

// readAt is the readat engine, the baseline a Go program without an event
// loop would use: qd goroutines, each reading random blocks with
// os.File.ReadAt into its own aligned buffer. A regular file is not
// pollable, so every ReadAt is a blocking pread(2) on its own thread (the
// runtime hands the goroutine's P to another thread while it blocks), and
// qd reads are in flight at once, as with the other engine.
func readAt(f *os.File, t *readTarget, qd int, seed uint64, duration time.Duration) (readResult, error) {
	workers := make([]readAtWorker, qd)
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		errOnce sync.Once
		readErr error
		failed  = make(chan struct{}) // closed with the first error
	)
	m := proc.StartMeter()
	for i := range workers {
		wg.Add(1)
		go func(w *readAtWorker, rng *rand.Rand, buf []byte) {
			defer wg.Done()
			for !stop.Load() {
				// ReadAt reports a short read as an error itself.
				if _, err := f.ReadAt(buf, t.randomOffset(rng)); err != nil {
					errOnce.Do(func() { readErr = err; close(failed) })
					stop.Store(true)
					return
				}
				w.ops.Add(1)
			}
		}(&workers[i], newRNG(seed, uint64(i)), ioloop.AlignedBuffer(t.bs, t.memAlign))
	}
	timer := time.NewTimer(duration)
	select {
	case <-timer.C:
	case <-failed:
		timer.Stop()
	}
	// Snapshot before stopping, as the ioloop engine does: reads finishing
	// after the interval are not counted.
	var ops int64
	for i := range workers {
		ops += workers[i].ops.Load()
	}
	iv := m.Stop()
	stop.Store(true)
	wg.Wait()
	return readResult{ops: ops, iv: iv}, readErr
}

func runBenchRead(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ioloop bench read",
		"ioloop bench read -file F [-engine ioloop|readat] [-mode plain|fixedbuf|fixedfile|fixed] [-qd 64] [-bs 4096] [-direct]\n"+
			"                         [-duration 5s] [-size BYTES] [-backend B] [-workers N] [-entries N] [-submit-batch N]\n"+
			"                         [-seed N] [-json]", stderr)
	path := fs.String("file", "", "file to read (required)")
	engine := newChoiceFlag("ioloop", "readat")
	fs.Var(engine, "engine", "`engine` that reads: ioloop (qd reads in flight on one loop) or readat (qd goroutines calling os.File.ReadAt, the Go baseline)")
	mode := newChoiceFlag(readModePlain, readModeFixedBuf, readModeFixedFile, readModeFixed)
	fs.Var(mode, "mode", "what the ioloop engine's reads use (`mode`): plain (Read), fixedbuf (ReadFixed into registered buffers, Loop.RegisterBuffers), "+
		"fixedfile (Read on the file registered with Loop.RegisterFile) or fixed (both); on epoll and kqueue all four run as plain reads")
	qd := fs.Int("qd", 64, "reads in flight at once (queue depth)")
	bs := fs.Int("bs", 4096, "block size in bytes; offsets are multiples of it")
	direct := fs.Bool("direct", false, "open with O_DIRECT (fail if the filesystem does not support it)")
	duration := fs.Duration("duration", 5*time.Second, "how long to measure")
	var size byteSize
	fs.Var(&size, "size", "create the file with this many bytes of random data if it is missing (suffixes K, M, G: powers of 1024)")
	lf := addLoopFlags(fs, "submission queue size (0: library default)")
	lf.addWorkersFlag(fs)
	seed := fs.Uint64("seed", 1, "seed of the offset generator, for repeatable runs")
	submitBatch := fs.Int("submit-batch", 0, "Options.FileSubmitBatch: reads submitted by callbacks before an early hand-off to the kernel (0: library default, -1: once per loop pass)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := lf.check(fs); !ok {
		return code
	}
	if engine.value == "readat" {
		if code, ok := rejectFlags(fs, "-engine readat", "mode", "backend", "workers", "entries", "submit-batch"); !ok {
			return code
		}
	}
	switch {
	case *path == "":
		return usageError(fs, "-file is required")
	case *qd < 1 || *qd > 1<<16:
		return usageError(fs, "-qd must be in 1..65536, got %d", *qd)
	case *bs < 1 || *bs > 1<<30:
		return usageError(fs, "-bs must be in 1..1073741824, got %d", *bs)
	case *duration <= 0:
		return usageError(fs, "-duration must be positive, got %v", *duration)
	case size != 0 && int64(size) < int64(*bs):
		return usageError(fs, "-size must be at least -bs (%d), got %d", *bs, size)
	}

	if err := ensureFile(*path, int64(size), *seed, stderr); err != nil {
		return fail(stderr, fs.Name(), err)
	}
	fd, memAlign, err := openForRead(*path, *direct, *bs)
	if err != nil {
		return fail(stderr, fs.Name(), err)
	}
	// The file owns the descriptor from here on: os.File is what the
	// readat engine reads through, and closing it closes fd.
	file := os.NewFile(uintptr(fd), *path)
	defer func() { _ = file.Close() }()
	st, err := file.Stat()
	if err != nil {
		return fail(stderr, fs.Name(), err)
	}
	target := &readTarget{fd: fd, bs: *bs, blocks: uint64(st.Size()) / uint64(*bs), memAlign: memAlign}
	if target.blocks == 0 {
		return fail(stderr, fs.Name(), fmt.Errorf("%s holds %d bytes, less than one %d-byte block", *path, st.Size(), *bs))
	}

	var (
		r   *report
		res readResult
	)
	if engine.value == "readat" {
		if res, err = readAt(file, target, *qd, *seed, *duration); err != nil {
			return fail(stderr, fs.Name(), err)
		}
		r = newReport("readat_read")
	} else {
		opts := lf.options()
		opts.FileSubmitBatch = *submitBatch
		loop, err := newLoop(opts, stderr)
		if err != nil {
			return fail(stderr, fs.Name(), err)
		}
		backend := loop.Backend()
		res, err = readLoop(loop, target, *qd, *seed, *duration, parseReadMode(mode.value))
		if err := errors.Join(err, loop.Close()); err != nil {
			return fail(stderr, fs.Name(), err)
		}
		r = newReport("ioloop_read").str("backend", backend.String()).str("mode", mode.value)
		if workers := effectiveWorkers(backend, lf.workers); workers > 0 {
			r.int("workers", int64(workers))
		}
	}
	if res.ops == 0 {
		return fail(stderr, fs.Name(), errors.New("no read completed"))
	}
	r.int("qd", int64(*qd)).
		int("bs", int64(*bs)).
		bool("direct", *direct).
		float("ops_per_sec", res.iv.PerSecond(res.ops), 0).
		float("cpu_us_per_op", res.iv.CPUMicrosPer(res.ops), 3)
	if engine.value == "ioloop" {
		// The readat engine's goroutines allocate as the runtime pleases;
		// the loop's steady state must not.
		r.float("allocs_per_op", float64(res.allocs)/float64(res.ops), 4)
	}
	if err := r.write(stdout, *asJSON); err != nil {
		return fail(stderr, fs.Name(), err)
	}
	return exitOK
}

// openForRead opens path read-only, with O_DIRECT when direct is set (and
// then fails rather than silently measuring the page cache), and returns
// the buffer alignment reads need.
func openForRead(path string, direct bool, bs int) (fd, memAlign int, err error) {
	if !direct {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, 0, fmt.Errorf("open %s: %w", path, err)
		}
		return fd, ioloop.DirectAlignment, nil
	}
	file, err := ioloop.OpenDirect(path, unix.O_RDONLY, 0, ioloop.DirectRequired)
	if err != nil {
		return -1, 0, fmt.Errorf("open %s with O_DIRECT: %w", path, err)
	}
	if bs%file.OffsetAlignBytes != 0 {
		_ = unix.Close(file.FD)
		return -1, 0, fmt.Errorf("-bs %d is not a multiple of the O_DIRECT alignment %d of %s", bs, file.OffsetAlignBytes, path)
	}
	return file.FD, max(file.MemoryAlignBytes, ioloop.DirectAlignment), nil
}

// ensureFile creates path with size bytes of pseudo-random data when it is
// missing and size > 0. The data is random and written out (not sparse,
// not zeros) so reads hit allocated extents on the device, as fio's
// pre-written file does. It goes to a temporary name, is fsynced, and is
// renamed into place, so an interrupted run never leaves a short file.
func ensureFile(path string, size int64, seed uint64, stderr io.Writer) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if size == 0 {
		return fmt.Errorf("%s does not exist; pass -size BYTES to create it", path)
	}
	fmt.Fprintf(stderr, "# creating %s (%d bytes of random data)\n", path, size)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := writeRandom(f, size, seed); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	syncErr := d.Sync()
	if err := d.Close(); err != nil && syncErr == nil {
		syncErr = err
	}
	return syncErr
}

func writeRandom(f *os.File, size int64, seed uint64) error {
	var key [32]byte
	for i := range key {
		key[i] = byte(seed >> (8 * (i % 8)))
	}
	rng := rand.NewChaCha8(key)
	chunk := make([]byte, 1<<20)
	for written := int64(0); written < size; {
		n := int(min(int64(len(chunk)), size-written))
		if _, err := rng.Read(chunk[:n]); err != nil {
			return err
		}
		if _, err := f.Write(chunk[:n]); err != nil {
			return err
		}
		written += int64(n)
	}
	return f.Sync()
}
