package files

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/bench/internal/samples"
	"golang.org/x/sys/unix"
)

// The write-ahead-log workload: 4 KiB appends, each one counted when it is
// durable, that is when the callback (or the returning call) that proves
// its bytes are on stable storage has run. N is the number of appends in
// flight: N appenders, each submitting its next append as soon as its
// previous one is durable (one goroutine each for os.File), or, for the
// group method, groups of N appends submitted together and made durable
// by one sync.
//
// An engine (ioloop on io_uring, ioloop on epoll, os.File) runs one of the
// methods:
//
//	write+sync  write, then fdatasync (ioloop: Write, then Fdatasync;
//	            os.File: WriteAt, then Sync, which is fsync: os.File has
//	            no fdatasync), per append
//	dsync       one durable write per append: ioloop's
//	            WriteDurable(DataSync) (RWF_DSYNC); os.File: WriteAt on a
//	            file opened with O_DSYNC
//	direct      WriteAt / Write on a file opened O_DIRECT|O_DSYNC, whose
//	            space was allocated (Fallocate), written with zeros and
//	            synced once before the run; the log is a ring over it, so
//	            no append changes the file's metadata
//	linked      ioloop only: Write and Fdatasync linked in a chain
//	            (BeginChain/EndChain), submitted together
//	group       N writes, then one sync covering all of them (ioloop:
//	            Fdatasync; os.File: Sync, from one goroutine)
//
// Every method but direct appends to a new file, which grows.
var (
	WALEngines = []string{"ioloop-io_uring", "ioloop-epoll", "osfile"}
	WALMethods = []string{"write+sync", "dsync", "direct", "linked", "group"}
)

// WALRuns reports whether engine runs method at N: linked is ioloop's
// alone, and group with N = 1 is write+sync.
func WALRuns(engine, method string, n int) bool {
	switch method {
	case "linked":
		return engine != "osfile"
	case "group":
		return n > 1
	}
	return true
}

// WALResult is one measured run of the write-ahead-log pattern.
type WALResult struct {
	Writes        int64   `json:"writes"` // durable appends in the window
	Seconds       float64 `json:"seconds"`
	WritesPerSec  float64 `json:"writes_per_sec"`
	CPUusPerWrite float64 `json:"cpu_us_per_write"`
	// Durable latency: from the append's submission (the Write call, or
	// WriteAt) to the callback, or the return, that proves it durable.
	P50us float64 `json:"p50_us"`
	P99us float64 `json:"p99_us"`
}

// walLimit is where an appended log wraps around (truncated, written
// again from the start), so a long run does not fill the disk; ringSize
// is the preallocated file of the direct method.
const (
	walLimit = 1 << 30
	ringSize = 64 << 20
)

// WAL runs engine with method and N appends in flight, in a new file in
// dir, for d after a warm-up of d/10.
func WAL(engine, method string, n int, dir string, d time.Duration) (WALResult, error) {
	if !slices.Contains(WALEngines, engine) || !slices.Contains(WALMethods, method) || !WALRuns(engine, method, n) || n < 1 {
		return WALResult{}, fmt.Errorf("no WAL engine %q with method %q at N=%d (engines %v, methods %v)", engine, method, n, WALEngines, WALMethods)
	}
	f, err := os.CreateTemp(dir, "ioloop-wal-*.log")
	if err != nil {
		return WALResult{}, err
	}
	path := f.Name()
	f.Close()
	defer os.Remove(path)
	var m walMeasure
	if engine == "osfile" {
		m, err = walOSFile(method, path, n, d)
	} else {
		backend := ioloop.BackendEpoll
		if engine == "ioloop-io_uring" {
			backend = ioloop.BackendIOUring
		}
		m, err = walLoop(backend, method, path, n, d)
	}
	return m.result(), err
}

// walMeasure is what a run measured in its window.
type walMeasure struct {
	win window
	r   ReadResult
	lat []time.Duration // durable latency of the appends completed in the window
}

func (m walMeasure) result() WALResult {
	slices.Sort(m.lat)
	q := samples.Quantiles(m.lat, 0.50, 0.99)
	return WALResult{Writes: m.r.Ops, Seconds: m.r.Seconds, WritesPerSec: m.r.IOPS, CPUusPerWrite: m.r.CPUusPerIO,
		P50us: float64(q[0]) / 1e3, P99us: float64(q[1]) / 1e3}
}

// record is one 4 KiB log record, aligned for O_DIRECT.
func record() []byte {
	b := ioloop.AlignedBuffer(BlockSize, 0)
	for i := range b {
		b[i] = byte(i * 13)
	}
	return b
}

// offsets hands out append offsets: the next block of a growing file up
// to walLimit, or of a ring of ringSize bytes (direct). A growing file
// wraps by truncation, which needs every append in flight finished.
type offsets struct {
	next, limit int64
	ring        bool
}

func newOffsets(method string) offsets {
	if method == "direct" {
		return offsets{limit: ringSize, ring: true}
	}
	return offsets{limit: walLimit}
}

// take returns the next offset, or false when a growing file is full.
func (o *offsets) take() (int64, bool) {
	if o.next+BlockSize > o.limit {
		if !o.ring {
			return 0, false
		}
		o.next = 0
	}
	off := o.next
	o.next += BlockSize
	return off, true
}

// --- ioloop ----------------------------------------------------------------

// walAppender is one append in flight on the loop: its write and, for
// write+sync and linked, its sync.
type walAppender struct {
	log     *walLog
	write   ioloop.Completion
	sync    ioloop.Completion
	started time.Time
}

type walLog struct {
	loop      *ioloop.Loop
	method    string
	fd        int
	rec       []byte
	off       offsets
	appenders []walAppender
	parked    []*walAppender // waiting for the file to be truncated
	inFlight  int
	durable   int64
	measuring bool
	lat       []time.Duration
	stopping  bool
	err       error

	groupSync    ioloop.Completion // group: the one Fdatasync
	groupPending int               // group: writes of the group not yet done
}

func (l *walLog) fail(err error) {
	if l.err == nil {
		l.err = err
	}
	l.stopping = true
}

// submit starts a's next append (every method but group).
func (a *walAppender) submit() {
	l := a.log
	if l.stopping {
		return
	}
	off, ok := l.off.take()
	if !ok {
		l.parked = append(l.parked, a)
		l.wrapIfIdle()
		return
	}
	l.inFlight++
	a.started = time.Now()
	switch l.method {
	case "write+sync":
		ioloop.Write(l.loop, &a.write, l.fd, l.rec, off, a, (*walAppender).onWriteThenSync)
	case "dsync":
		ioloop.WriteDurable(l.loop, &a.write, l.fd, l.rec, off, ioloop.DataSync, a, (*walAppender).onDurableWrite)
	case "direct":
		ioloop.Write(l.loop, &a.write, l.fd, l.rec, off, a, (*walAppender).onDurableWrite)
	case "linked":
		l.submitLinked(a, off)
	}
}

// wrapIfIdle truncates a full growing log once no append is in flight,
// and restarts the appenders that waited for it.
func (l *walLog) wrapIfIdle() {
	if l.inFlight > 0 || len(l.parked) == 0 {
		return
	}
	if err := unix.Ftruncate(l.fd, 0); err != nil {
		l.fail(err)
		return
	}
	l.off.next = 0
	parked := l.parked
	l.parked = l.parked[:0:0]
	for _, a := range parked {
		a.submit()
	}
}

func (l *walLog) checkWrite(n int, err error) bool {
	if err == nil && n != len(l.rec) {
		err = fmt.Errorf("short write: %d bytes", n)
	}
	if err != nil {
		l.fail(err)
		return false
	}
	return true
}

func (a *walAppender) onWriteThenSync(_ *ioloop.Completion, n int, err error) {
	if !a.log.checkWrite(n, err) {
		a.log.inFlight--
		return
	}
	ioloop.Fdatasync(a.log.loop, &a.sync, a.log.fd, a, (*walAppender).onSync)
}

func (a *walAppender) onSync(_ *ioloop.Completion, err error) {
	if err != nil {
		a.log.fail(err)
		a.log.inFlight--
		return
	}
	a.durable(time.Now())
}

func (a *walAppender) onDurableWrite(_ *ioloop.Completion, n int, err error) {
	if !a.log.checkWrite(n, err) {
		a.log.inFlight--
		return
	}
	a.durable(time.Now())
}

// onLinkedWrite is the first link's callback: the append is durable only
// when the Fdatasync linked after it calls back.
func (a *walAppender) onLinkedWrite(_ *ioloop.Completion, n int, err error) {
	a.log.checkWrite(n, err)
}

// durable counts a's append, durable at now, and starts its next.
func (a *walAppender) durable(now time.Time) {
	l := a.log
	l.inFlight--
	l.durable++
	if l.measuring {
		l.lat = append(l.lat, now.Sub(a.started))
	}
	a.submit()
	l.wrapIfIdle()
}

// startGroup submits the next group's writes (group).
func (l *walLog) startGroup() {
	if l.stopping {
		return
	}
	if l.off.next+int64(len(l.appenders)*BlockSize) > l.off.limit {
		if err := unix.Ftruncate(l.fd, 0); err != nil {
			l.fail(err)
			return
		}
		l.off.next = 0
	}
	l.groupPending = len(l.appenders)
	now := time.Now()
	for i := range l.appenders {
		a := &l.appenders[i]
		off, _ := l.off.take()
		a.started = now
		ioloop.Write(l.loop, &a.write, l.fd, l.rec, off, a, (*walAppender).onGroupWrite)
	}
}

func (a *walAppender) onGroupWrite(_ *ioloop.Completion, n int, err error) {
	l := a.log
	l.checkWrite(n, err)
	if l.groupPending--; l.groupPending == 0 {
		if l.err != nil {
			return
		}
		ioloop.Fdatasync(l.loop, &l.groupSync, l.fd, l, (*walLog).onGroupSync)
	}
}

func (l *walLog) onGroupSync(_ *ioloop.Completion, err error) {
	if err != nil {
		l.fail(err)
		return
	}
	now := time.Now()
	l.durable += int64(len(l.appenders))
	if l.measuring {
		for i := range l.appenders {
			l.lat = append(l.lat, now.Sub(l.appenders[i].started))
		}
	}
	l.startGroup()
}

func walLoop(backend ioloop.Backend, method, path string, n int, d time.Duration) (walMeasure, error) {
	// One file worker per operation in flight on epoll, as os.File has a
	// goroutine (and a thread) per append.
	loop, err := ioloop.New(ioloop.Options{Backend: backend, FileWorkers: max(n, 2)})
	if err != nil {
		return walMeasure{}, err
	}
	l := &walLog{loop: loop, method: method, rec: record(), off: newOffsets(method),
		appenders: make([]walAppender, n), lat: make([]time.Duration, 0, 1<<18)}
	flags := unix.O_RDWR
	if method == "direct" {
		flags |= unix.O_DIRECT | unix.O_DSYNC
	}
	l.fd, err = loopOpen(loop, path, flags)
	if err == nil && method == "direct" {
		err = loopPrepareRing(loop, l.fd)
	}
	if err != nil {
		return walMeasure{}, errors.Join(err, loop.Close())
	}
	defer unix.Close(l.fd)
	for i := range l.appenders {
		l.appenders[i].log = l
	}
	if method == "group" {
		l.startGroup()
	} else {
		for i := range l.appenders {
			l.appenders[i].submit()
		}
	}
	err = loop.RunFor(d / 10)
	l.measuring = true
	m := walMeasure{win: startWindow(l.durable)}
	if err == nil {
		err = loop.RunFor(d)
	}
	m.r = m.win.result(l.durable)
	l.measuring, l.stopping = false, true
	m.lat = l.lat
	return m, errors.Join(err, l.err, loop.Run(), loop.Close())
}

// walSetup runs one setup operation to completion on the loop.
type walSetup struct {
	c    ioloop.Completion
	done bool
	n    int
	err  error
}

func (s *walSetup) onErr(_ *ioloop.Completion, err error) { s.done, s.err = true, err }
func (s *walSetup) onCount(_ *ioloop.Completion, n int, err error) {
	s.done, s.n, s.err = true, n, err
}

func (s *walSetup) await(loop *ioloop.Loop) (int, error) {
	for !s.done {
		if err := loop.RunFor(100 * time.Millisecond); err != nil {
			return 0, err
		}
	}
	return s.n, s.err
}

func loopOpen(loop *ioloop.Loop, path string, flags int) (int, error) {
	var s walSetup
	ioloop.OpenAt(loop, &s.c, unix.AT_FDCWD, path, flags, 0o644, &s, (*walSetup).onCount)
	return s.await(loop)
}

// loopPrepareRing makes fd's first ringSize bytes allocated, written and
// durable through the loop: Fallocate, zeros, Fsync. (Allocated but never
// written, the blocks would be unwritten extents, and the first write to
// each would change the extent tree: metadata to journal on every
// O_DSYNC append.)
func loopPrepareRing(loop *ioloop.Loop, fd int) error {
	var s walSetup
	ioloop.Fallocate(loop, &s.c, fd, 0, 0, ringSize, &s, (*walSetup).onErr)
	if _, err := s.await(loop); err != nil {
		return fmt.Errorf("fallocate: %w", err)
	}
	zeros := ioloop.AlignedBuffer(1<<20, 0)
	for off := int64(0); off < ringSize; off += int64(len(zeros)) {
		s = walSetup{}
		ioloop.Write(loop, &s.c, fd, zeros, off, &s, (*walSetup).onCount)
		if n, err := s.await(loop); err != nil || n != len(zeros) {
			return fmt.Errorf("zeroing the ring: %d bytes, %v", n, err)
		}
	}
	s = walSetup{}
	ioloop.Fsync(loop, &s.c, fd, &s, (*walSetup).onErr)
	_, err := s.await(loop)
	return err
}

// --- os.File ---------------------------------------------------------------

// osLog is the os.File engine's shared state. Appenders take offsets under
// mu's read lock; wrapping a full growing file takes the write lock, so no
// append is in flight when it is truncated.
type osLog struct {
	f         *os.File
	method    string
	mu        sync.RWMutex
	next      atomic.Int64
	limit     int64
	ring      bool
	durable   atomic.Int64
	measuring atomic.Bool
	stop      atomic.Bool
	errOnce   sync.Once
	err       error
}

func (o *osLog) fail(err error) {
	o.errOnce.Do(func() { o.err = err })
	o.stop.Store(true)
}

// append writes rec at the next offset (and syncs, for write+sync),
// holding the read lock. It reports whether it appended (false: it only
// wrapped a full file) and stops the run on an error.
func (o *osLog) append(rec []byte) bool {
	o.mu.RLock()
	off := o.next.Add(BlockSize) - BlockSize
	if off+BlockSize > o.limit {
		o.mu.RUnlock()
		o.wrap()
		return false
	}
	_, err := o.f.WriteAt(rec, off)
	if err == nil && o.method == "write+sync" {
		err = o.f.Sync()
	}
	o.mu.RUnlock()
	if err != nil {
		o.fail(err)
		return false
	}
	return true
}

func (o *osLog) wrap() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.next.Load() <= o.limit {
		return // another appender wrapped it
	}
	if !o.ring {
		if err := o.f.Truncate(0); err != nil {
			o.fail(err)
		}
	}
	o.next.Store(0)
}

// appender is one goroutine appending, one append at a time; its
// latencies are its own until the run ends.
func (o *osLog) appender(rec []byte, lat *[]time.Duration) {
	for !o.stop.Load() {
		start := time.Now()
		if !o.append(rec) {
			continue
		}
		o.durable.Add(1)
		if o.measuring.Load() {
			*lat = append(*lat, time.Since(start))
		}
	}
}

// grouper is the group method: one goroutine writes n records, then
// syncs once.
func (o *osLog) grouper(rec []byte, n int, lat *[]time.Duration) {
	starts := make([]time.Time, n)
	for !o.stop.Load() {
		off := o.next.Load()
		if off+int64(n*BlockSize) > o.limit {
			if err := o.f.Truncate(0); err != nil {
				o.fail(err)
				return
			}
			off = 0
		}
		for i := range n {
			starts[i] = time.Now()
			if _, err := o.f.WriteAt(rec, off); err != nil {
				o.fail(err)
				return
			}
			off += BlockSize
		}
		o.next.Store(off)
		if err := o.f.Sync(); err != nil {
			o.fail(err)
			return
		}
		now := time.Now()
		o.durable.Add(int64(n))
		if o.measuring.Load() {
			for _, s := range starts {
				*lat = append(*lat, now.Sub(s))
			}
		}
	}
}

// walOSFile is the Go program without an event loop, as strong as the
// standard library makes it: N goroutines appending with positional
// writes (a regular file is not pollable, so each blocks a thread in
// the kernel), or, for group, one goroutine writing a group and syncing.
func walOSFile(method, path string, n int, d time.Duration) (walMeasure, error) {
	flags := os.O_RDWR
	switch method {
	case "dsync":
		flags |= unix.O_DSYNC
	case "direct":
		flags |= unix.O_DIRECT | unix.O_DSYNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return walMeasure{}, err
	}
	defer f.Close()
	if method == "direct" {
		if err := osPrepareRing(f); err != nil {
			return walMeasure{}, err
		}
	}
	off := newOffsets(method)
	o := &osLog{f: f, method: method, limit: off.limit, ring: off.ring}
	workers := n
	if method == "group" {
		workers = 1
	}
	lats := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	for i := range workers {
		lats[i] = make([]time.Duration, 0, 1<<18/workers)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if method == "group" {
				o.grouper(record(), n, &lats[i])
			} else {
				o.appender(record(), &lats[i])
			}
		}()
	}
	time.Sleep(d / 10)
	o.measuring.Store(true)
	m := walMeasure{win: startWindow(o.durable.Load())}
	time.Sleep(d)
	m.r = m.win.result(o.durable.Load())
	o.measuring.Store(false)
	o.stop.Store(true)
	wg.Wait()
	m.lat = slices.Concat(lats...)
	return m, o.err
}

// osPrepareRing is loopPrepareRing with the standard library.
func osPrepareRing(f *os.File) error {
	if err := unix.Fallocate(int(f.Fd()), 0, 0, ringSize); err != nil {
		return fmt.Errorf("fallocate: %w", err)
	}
	zeros := ioloop.AlignedBuffer(1<<20, 0)
	for off := int64(0); off < ringSize; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros, off); err != nil {
			return fmt.Errorf("zeroing the ring: %w", err)
		}
	}
	return f.Sync()
}
