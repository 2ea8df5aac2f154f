package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/uring"
	"golang.org/x/sys/unix"
)

// readBench keeps qd random reads in flight against one file. Each reader
// owns a Completion and an aligned buffer; its callback immediately
// resubmits at a new random block, so the queue depth stays at qd, like
// fio's io_uring engine at --iodepth.
type readBench struct {
	loop     *ioloop.Loop
	fd       int
	bs       int
	blocks   uint64 // whole blocks in the file: offsets are block * bs
	rng      *rand.Rand
	ops      int64
	stopping bool
	err      error
}

type reader struct {
	bench *readBench
	c     ioloop.Completion
	buf   []byte
}

// submit reads one block at a random block-aligned offset. Uint64N on a
// PCG source neither allocates nor biases the offsets.
func (r *reader) submit() {
	b := r.bench
	offset := int64(b.rng.Uint64N(b.blocks)) * int64(b.bs)
	ioloop.Read(b.loop, &r.c, b.fd, r.buf, offset, r, (*reader).onRead)
}

func (r *reader) onRead(_ *ioloop.Completion, n int, err error) {
	b := r.bench
	if err == nil && n != len(r.buf) {
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

func runBenchRead(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ioloop bench read",
		"ioloop bench read -file F [-qd 64] [-bs 4096] [-direct] [-duration 5s] [-size BYTES] [-json]", stderr)
	path := fs.String("file", "", "file to read (required)")
	qd := fs.Int("qd", 64, "reads in flight at once (queue depth)")
	bs := fs.Int("bs", 4096, "block size in bytes; offsets are multiples of it")
	direct := fs.Bool("direct", false, "open with O_DIRECT (fail if the filesystem does not support it)")
	duration := fs.Duration("duration", 5*time.Second, "how long to measure")
	var size byteSize
	fs.Var(&size, "size", "create the file with this many bytes of random data if it is missing (suffixes K, M, G: powers of 1024)")
	entries := fs.Uint("entries", 0, "submission queue size (0: library default)")
	seed := fs.Uint64("seed", 1, "seed of the offset generator, for repeatable runs")
	submitBatch := fs.Int("submit-batch", 0, "Options.FileSubmitBatch: reads submitted by callbacks before an early hand-off to the kernel (0: library default, -1: once per loop pass)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if code, ok := parseFlags(fs, args); !ok {
		return code
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
	case *entries > uring.MaxEntries:
		return usageError(fs, "-entries must be at most %d, got %d", uring.MaxEntries, *entries)
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
	defer func() { _ = unix.Close(fd) }()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail(stderr, fs.Name(), fmt.Errorf("fstat %s: %w", *path, err))
	}
	blocks := uint64(st.Size) / uint64(*bs)
	if blocks == 0 {
		return fail(stderr, fs.Name(), fmt.Errorf("%s holds %d bytes, less than one %d-byte block", *path, st.Size, *bs))
	}

	loop, err := ioloop.New(ioloop.Options{Entries: uint32(*entries), FileSubmitBatch: *submitBatch})
	if err != nil {
		return fail(stderr, fs.Name(), err)
	}
	bench := &readBench{
		loop: loop, fd: fd, bs: *bs, blocks: blocks,
		rng: rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15)),
	}
	readers := make([]reader, *qd)
	for i := range readers {
		readers[i] = reader{bench: bench, buf: ioloop.AlignedBuffer(*bs, memAlign)}
	}

	m, err := startMeter()
	if err != nil {
		_ = loop.Close()
		return fail(stderr, fs.Name(), err)
	}
	for i := range readers {
		readers[i].submit()
	}
	runErr := loop.RunFor(*duration)
	// Snapshot before draining: the reads still in flight finish below
	// without resubmitting and are not counted.
	ops := bench.ops
	iv, meterErr := m.stop()
	bench.stopping = true
	if runErr == nil {
		runErr = loop.Run()
	}
	closeErr := loop.Close()
	for _, err := range []error{runErr, bench.err, meterErr, closeErr} {
		if err != nil {
			return fail(stderr, fs.Name(), err)
		}
	}
	if ops == 0 {
		return fail(stderr, fs.Name(), errors.New("no read completed"))
	}

	r := newReport("ioloop_read").
		int("qd", int64(*qd)).
		int("bs", int64(*bs)).
		bool("direct", *direct).
		float("ops_per_sec", iv.perSecond(ops), 0).
		float("cpu_us_per_op", iv.cpuMicrosPer(ops), 3)
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
