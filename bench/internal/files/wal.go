package files

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// WALContenders are the engines of the write-ahead-log workload.
var WALContenders = []string{"ioloop-io_uring", "ioloop-epoll", "osfile"}

// WALResult is one measured run of the write-ahead-log pattern.
type WALResult struct {
	Writes        int64   `json:"writes"`
	Seconds       float64 `json:"seconds"`
	WritesPerSec  float64 `json:"writes_per_sec"`
	SyncsPerSec   float64 `json:"syncs_per_sec"`
	CPUusPerWrite float64 `json:"cpu_us_per_write"`
}

// walLimit is where the log wraps around (truncated, written again from
// the start), so a long run does not fill the disk.
const walLimit = 256 << 20

// WAL appends 4 KiB records to a new file in dir, with an fsync after
// every `every` records, for d, with engine impl. The ioloop engines
// submit a group's writes together (they are independent appends at
// known offsets) and its Fsync once they have all completed; os.File
// writes them one after another, then calls Sync.
func WAL(impl, dir string, every int, d time.Duration) (WALResult, error) {
	f, err := os.CreateTemp(dir, "ioloop-wal-*.log")
	if err != nil {
		return WALResult{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	var groups int64
	var w window
	switch impl {
	case "osfile":
		w, groups, err = walOSFile(f, every, d)
	case "ioloop-io_uring", "ioloop-epoll":
		backend := ioloop.BackendEpoll
		if impl == "ioloop-io_uring" {
			backend = ioloop.BackendIOUring
		}
		w, groups, err = walLoop(backend, int(f.Fd()), every, d)
	default:
		return WALResult{}, fmt.Errorf("unknown WAL engine %q (want one of %v)", impl, WALContenders)
	}
	if err != nil {
		return WALResult{}, err
	}
	r := w.result(groups * int64(every))
	return WALResult{Writes: r.Ops, Seconds: r.Seconds, WritesPerSec: r.IOPS,
		SyncsPerSec: r.IOPS / float64(every), CPUusPerWrite: r.CPUusPerIO}, nil
}

// record is one 4 KiB log record.
func record() []byte {
	b := make([]byte, BlockSize)
	for i := range b {
		b[i] = byte(i * 13)
	}
	return b
}

func walOSFile(f *os.File, every int, d time.Duration) (window, int64, error) {
	rec := record()
	w := startWindow(0)
	deadline := w.meter.Started().Add(d)
	var groups, off int64
	for time.Now().Before(deadline) {
		if off+int64(every*BlockSize) > walLimit {
			if err := f.Truncate(0); err != nil {
				return w, groups, err
			}
			off = 0
		}
		for range every {
			if _, err := f.WriteAt(rec, off); err != nil {
				return w, groups, err
			}
			off += BlockSize
		}
		if err := f.Sync(); err != nil {
			return w, groups, err
		}
		groups++
	}
	return w, groups, nil
}

type walLog struct {
	loop     *ioloop.Loop
	fd       int
	every    int
	writes   []ioloop.Completion
	sync     ioloop.Completion
	rec      []byte
	off      int64
	inFlight int
	groups   int64
	deadline time.Time
	done     bool
	err      error
}

func (l *walLog) startGroup() {
	if time.Now().After(l.deadline) {
		l.done = true
		return
	}
	if l.off+int64(l.every*BlockSize) > walLimit {
		if err := unix.Ftruncate(l.fd, 0); err != nil {
			l.err, l.done = err, true
			return
		}
		l.off = 0
	}
	l.inFlight = l.every
	for i := range l.writes {
		ioloop.Write(l.loop, &l.writes[i], l.fd, l.rec, l.off, l, (*walLog).onWrite)
		l.off += BlockSize
	}
}

func (l *walLog) onWrite(_ *ioloop.Completion, n int, err error) {
	if err == nil && n != len(l.rec) {
		err = fmt.Errorf("short write: %d bytes", n)
	}
	if err != nil {
		l.err, l.done = err, true
		return
	}
	if l.inFlight--; l.inFlight == 0 {
		ioloop.Fsync(l.loop, &l.sync, l.fd, l, (*walLog).onSync)
	}
}

func (l *walLog) onSync(_ *ioloop.Completion, err error) {
	if err != nil {
		l.err, l.done = err, true
		return
	}
	l.groups++
	l.startGroup()
}

func walLoop(backend ioloop.Backend, fd, every int, d time.Duration) (window, int64, error) {
	loop, err := ioloop.New(ioloop.Options{Backend: backend, FileWorkers: every})
	if err != nil {
		return window{}, 0, err
	}
	l := &walLog{loop: loop, fd: fd, every: every, writes: make([]ioloop.Completion, every), rec: record()}
	w := startWindow(0)
	l.deadline = w.meter.Started().Add(d)
	l.startGroup()
	for !l.done && err == nil {
		err = loop.RunFor(10 * time.Millisecond)
	}
	return w, l.groups, errors.Join(err, l.err, loop.Run(), loop.Close())
}
