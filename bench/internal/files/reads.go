package files

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
	"golang.org/x/sys/unix"
)

// ReadContenders are the Go engines of the random-read workload; fio
// runs beside them (RunFio).
var ReadContenders = []string{"ioloop-io_uring", "ioloop-epoll", "readat"}

// BlockSize is the size and alignment of every read.
const BlockSize = 4096

// ReadResult is one measured run of random reads.
type ReadResult struct {
	Ops        int64   `json:"ops"`
	Seconds    float64 `json:"seconds"`
	IOPS       float64 `json:"iops"`
	CPUusPerIO float64 `json:"cpu_us_per_io"`
}

// window measures wall and CPU time (this process, all threads) of the
// reads counted between its start and its end.
type window struct {
	meter proc.Meter
	ops   int64
}

func startWindow(ops int64) window {
	return window{meter: proc.StartMeter(), ops: ops}
}

func (w window) result(ops int64) ReadResult {
	iv := w.meter.Stop()
	r := ReadResult{Ops: ops - w.ops, Seconds: iv.Wall.Seconds()}
	r.IOPS = iv.PerSecond(r.Ops)
	r.CPUusPerIO = iv.CPUMicrosPer(max(r.Ops, 1))
	return r
}

// RandomReads keeps qd random 4 KiB O_DIRECT reads in flight on path for
// d (after a warm-up of d/10) with engine impl.
func RandomReads(impl, path string, qd int, d time.Duration) (ReadResult, error) {
	file, err := ioloop.OpenDirect(path, unix.O_RDONLY, 0, ioloop.DirectRequired)
	if err != nil {
		return ReadResult{}, fmt.Errorf("open %s with O_DIRECT: %w", path, err)
	}
	f := os.NewFile(uintptr(file.FD), path)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ReadResult{}, err
	}
	blocks := uint64(st.Size() / BlockSize)
	if blocks == 0 {
		return ReadResult{}, fmt.Errorf("%s is smaller than one block", path)
	}
	align := max(file.MemoryAlignBytes, ioloop.DirectAlignment)
	switch impl {
	case "ioloop-io_uring":
		return loopReads(ioloop.Options{Backend: ioloop.BackendIOUring}, file.FD, blocks, align, qd, d)
	case "ioloop-epoll":
		// One worker per read in flight, as readat has one goroutine each.
		return loopReads(ioloop.Options{Backend: ioloop.BackendEpoll, FileWorkers: qd}, file.FD, blocks, align, qd, d)
	case "readat":
		return readAtReads(f, blocks, align, qd, d)
	}
	return ReadResult{}, fmt.Errorf("unknown read engine %q (want one of %v)", impl, ReadContenders)
}

type loopReader struct {
	r   *loopReadState
	op  ioloop.Completion
	buf []byte
}

type loopReadState struct {
	loop     *ioloop.Loop
	fd       int
	blocks   uint64
	rng      *rand.Rand
	ops      int64
	stopping bool
	err      error
}

func (rd *loopReader) submit() {
	s := rd.r
	off := int64(s.rng.Uint64N(s.blocks)) * BlockSize
	ioloop.Read(s.loop, &rd.op, s.fd, rd.buf, off, rd, (*loopReader).onRead)
}

func (rd *loopReader) onRead(_ *ioloop.Completion, n int, err error) {
	s := rd.r
	if err == nil && n != len(rd.buf) {
		err = fmt.Errorf("short read: %d bytes", n)
	}
	if err != nil {
		s.err, s.stopping = err, true
		return
	}
	s.ops++
	if !s.stopping {
		rd.submit()
	}
}

func loopReads(opts ioloop.Options, fd int, blocks uint64, align, qd int, d time.Duration) (ReadResult, error) {
	loop, err := ioloop.New(opts)
	if err != nil {
		return ReadResult{}, err
	}
	s := &loopReadState{loop: loop, fd: fd, blocks: blocks, rng: rand.New(rand.NewPCG(1, 2))}
	readers := make([]loopReader, qd)
	for i := range readers {
		readers[i] = loopReader{r: s, buf: ioloop.AlignedBuffer(BlockSize, align)}
		readers[i].submit()
	}
	err = loop.RunFor(d / 10)
	w := startWindow(s.ops)
	if err == nil {
		err = loop.RunFor(d)
	}
	res := w.result(s.ops)
	s.stopping = true
	return res, errors.Join(err, s.err, loop.Run(), loop.Close())
}

// readAtReads is the Go program without an event loop: qd goroutines, each
// reading a random block with os.File.ReadAt into its own buffer. A
// regular file is not pollable, so each ReadAt blocks a thread in pread.
func readAtReads(f *os.File, blocks uint64, align, qd int, d time.Duration) (ReadResult, error) {
	var (
		ops      atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for i := range qd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(1, uint64(i)))
			buf := ioloop.AlignedBuffer(BlockSize, align)
			for !stop.Load() {
				if _, err := f.ReadAt(buf, int64(rng.Uint64N(blocks))*BlockSize); err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
				}
				ops.Add(1)
			}
		}()
	}
	time.Sleep(d / 10)
	w := startWindow(ops.Load())
	time.Sleep(d)
	res := w.result(ops.Load())
	stop.Store(true)
	wg.Wait()
	return res, firstErr
}
