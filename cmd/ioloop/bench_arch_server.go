//go:build !windows

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/serve"
	"golang.org/x/sys/unix"
)

// The servers of `bench arch`, one per architecture (see bench_arch.go),
// and `bench arch -serve`, which runs one of them in the child process
// each measured run starts.

// Post retry policy of the pool's workers (see archServer.postReply).
const (
	postSpinAttempts = 16                     // retries that only yield the processor
	postBackoff      = 50 * time.Microsecond  // sleep between later retries
	postGiveUp       = 200 * time.Millisecond // then the reply is dropped
)

// spinSink keeps calibration runs from being optimized away.
var spinSink atomic.Uint64

// spin burns CPU deterministically: iters rounds of splitmix64, a chain
// of dependent multiplications that neither the compiler nor the CPU can
// skip or overlap, touching no memory, so its cost per round is stable
// and does not depend on cache contention with the I/O.
func spin(iters int, seed uint64) uint64 {
	x := seed
	for range iters {
		x += 0x9e3779b97f4a7c15
		z := (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		x = z ^ (z >> 31)
	}
	return x
}

// calibrateSpin returns spin rounds per nanosecond: the fastest of several
// timed runs of at least 5 ms each, since on a shared machine interference
// only ever slows a run down. It runs once, in the parent, and the rate is
// passed to every server, so that a microsecond of work is the same number
// of rounds in every run.
func calibrateSpin() float64 {
	iters := 1 << 12
	for iters < 1<<30 {
		start := time.Now()
		spinSink.Store(spin(iters, 1))
		if time.Since(start) >= 5*time.Millisecond {
			break
		}
		iters *= 2
	}
	best := 0.0
	for attempt := range 7 {
		start := time.Now()
		spinSink.Store(spin(iters, uint64(attempt)))
		if elapsed := time.Since(start); elapsed > 0 {
			best = max(best, float64(iters)/float64(elapsed.Nanoseconds()))
		}
	}
	return best
}

// archServerConfig describes one server.
type archServerConfig struct {
	arch      string
	loops     int     // percore: loops in the group; pool and single run one
	workers   int     // pool: worker goroutines
	maxConns  int     // pool: connections served at once (see archServer.jobs)
	spinPerNs float64 // spin rounds per nanosecond of requested work
	procs     int     // GOMAXPROCS of the server process; 0: Go's default
	loop      ioloop.Options
}

// archServer is the server of one architecture. Every loop is an
// archShard with its own listener; pool and single have one.
type archServer struct {
	cfg    archServerConfig
	group  *ioloop.Group
	shards []*archShard
	fds    []int
	addr   netip.AddrPort

	// jobs hands requests from the pool's loop to its workers. Each
	// connection has at most one request in the server at a time (the loop
	// receives the next only after sending the reply), and the loop accepts
	// at most maxConns connections, so a channel of maxConns never fills
	// and the loop never blocks on it. nil outside pool.
	jobs    chan *archConn
	workers sync.WaitGroup

	postRetries atomic.Int64 // Posts that found the inbox full
	postDropped atomic.Int64 // replies given up after postGiveUp
}

// archShard is one loop's share of the server. Only its loop's goroutine
// touches it while the server runs.
type archShard struct {
	serve.Acceptor
	srv      *archServer
	pool     serve.Pool[archConn]
	limit    int // connections at once; 0: no limit
	active   int
	requests int64 // requests received
	rejected int64 // connections closed at once because of limit
	failure  error // first protocol or accept failure
}

// archConn is one server connection. It has one operation in flight at a
// time (Recv, then Send, or Close), or none while a pool worker holds it.
type archConn struct {
	serve.Conn
	shard *archShard
	got   int // bytes of the current request received
	req   [archRequestSize]byte
	reply [archReplySize]byte
}

// startArchServer listens on addr (one SO_REUSEPORT socket per loop) and
// starts the loops, and for pool the workers.
func startArchServer(cfg archServerConfig, addr netip.AddrPort) (*archServer, error) {
	switch cfg.arch {
	case archSingle:
		cfg.loops = 1
	case archPool:
		cfg.loops = 1
		if cfg.workers < 1 || cfg.maxConns < 1 || cfg.maxConns > ioloop.MaxInboxEntries {
			return nil, fmt.Errorf("pool needs workers >= 1 and maxConns in 1..%d", ioloop.MaxInboxEntries)
		}
		// Like the channel, an inbox of maxConns cannot fill: ErrQueueFull
		// is handled all the same, in case the bound ever changes.
		cfg.loop.InboxEntries = uint32(cfg.maxConns)
	case archPerCore:
	default:
		return nil, fmt.Errorf("unknown architecture %q", cfg.arch)
	}
	if cfg.loops < 1 {
		return nil, fmt.Errorf("need at least one loop, got %d", cfg.loops)
	}
	fds, bound, err := ioloop.ListenTCPShards(addr, cfg.loops, ioloop.ListenOptions{NoDelay: true})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &archServer{cfg: cfg, fds: fds, addr: bound, shards: make([]*archShard, cfg.loops)}
	for i := range s.shards {
		sh := &archShard{srv: s}
		sh.Acceptor = serve.Acceptor{ListenFD: fds[i], Handler: sh}
		s.shards[i] = sh
	}
	if cfg.arch == archPool {
		s.jobs = make(chan *archConn, cfg.maxConns)
		s.shards[0].limit = cfg.maxConns
	}
	s.group, err = ioloop.StartGroup(ioloop.GroupOptions{Loops: cfg.loops, Loop: cfg.loop}, func(l *ioloop.Loop, i int) error {
		sh := s.shards[i]
		sh.Loop = l
		sh.Start()
		return nil
	})
	if err != nil {
		s.closeListeners()
		return nil, err
	}
	if s.jobs != nil {
		for range cfg.workers {
			s.workers.Add(1)
			go s.worker()
		}
	}
	return s, nil
}

func (s *archServer) backend() ioloop.Backend { return s.group.Loop(0).Backend() }

func (s *archServer) closeListeners() {
	for _, fd := range s.fds {
		_ = unix.Close(fd)
	}
	s.fds = nil
}

// archServerStats are a server's counters after shutdown.
type archServerStats struct {
	requests, rejected, postRetries, postDropped int64
}

// shutdown stops the loops (which cancels their operations and closes
// their connections), then the workers, and returns the counters and the
// first failure.
func (s *archServer) shutdown() (archServerStats, error) {
	errs := []error{s.group.Shutdown()}
	if s.jobs != nil {
		// The loops have closed, so nothing sends on jobs any more; the
		// workers drain it, and their Posts fail with ErrClosed.
		close(s.jobs)
		s.workers.Wait()
	}
	s.closeListeners()
	var st archServerStats
	for _, sh := range s.shards {
		st.requests += sh.requests
		st.rejected += sh.rejected
		errs = append(errs, sh.failure)
	}
	st.postRetries, st.postDropped = s.postRetries.Load(), s.postDropped.Load()
	return st, errors.Join(errs...)
}

func (sh *archShard) fail(err error) {
	if sh.failure == nil {
		sh.failure = err
	}
}

// AcceptFailed stops the shard with err.
func (sh *archShard) AcceptFailed(err error) { sh.fail(err) }

// Accepted serves fd, or closes it at once when the shard is at its
// connection limit.
func (sh *archShard) Accepted(fd int) {
	if sh.limit > 0 && sh.active >= sh.limit {
		sh.rejected++
		_ = unix.Close(fd)
		return
	}
	sh.active++
	conn := sh.pool.Get()
	if conn == nil {
		conn = &archConn{shard: sh}
		conn.Conn = serve.Conn{Loop: sh.Loop, Owner: conn}
	}
	conn.FD, conn.got = fd, 0
	conn.Recv()
}

// Recv receives the rest of the current request.
func (conn *archConn) Recv() {
	ioloop.Recv(conn.Loop, &conn.Op, conn.FD, conn.req[conn.got:], conn, (*archConn).onRecv)
}

// onRecv collects one request (the client sends the next only after the
// reply, so a receive never holds more than the rest of one request), then
// does the work inline or hands it to the pool.
func (conn *archConn) onRecv(_ *ioloop.Completion, n int, err error) {
	if err != nil { // EOF, a reset, or cancellation by Close
		conn.Close()
		return
	}
	conn.got += n
	if conn.got < archRequestSize {
		conn.Recv()
		return
	}
	conn.got = 0
	sh := conn.shard
	if time.Duration(binary.LittleEndian.Uint32(conn.req[8:12])) > maxWork {
		sh.fail(fmt.Errorf("a request asked for more than %v of work", maxWork))
		conn.Close()
		return
	}
	sh.requests++
	if sh.srv.jobs == nil {
		conn.work(sh.srv.cfg.spinPerNs)
		conn.sendReply()
		return
	}
	select {
	case sh.srv.jobs <- conn:
	default: // impossible while the connection limit holds (see archServer.jobs)
		sh.fail(errors.New("the worker pool's queue was full"))
		conn.Close()
	}
}

// work does the requested work and writes the reply. It runs on the loop
// (percore, single) or on a worker (pool), never on both at once.
func (conn *archConn) work(spinPerNs float64) {
	id := binary.LittleEndian.Uint64(conn.req[0:8])
	ns := binary.LittleEndian.Uint32(conn.req[8:12])
	result := spin(int(float64(ns)*spinPerNs), id)
	copy(conn.reply[:archRequestSize], conn.req[:])
	binary.LittleEndian.PutUint64(conn.reply[archRequestSize:], result)
}

// sendReply runs on the loop: directly after inline work, or as the
// function a pool worker posted.
func (conn *archConn) sendReply() { conn.Send(conn.reply[:]) }

// Closed returns the connection to the shard's pool.
func (conn *archConn) Closed() {
	conn.shard.active--
	conn.shard.pool.Put(conn)
}

// worker is one goroutine of the pool: it takes a request, does the work
// and posts the reply to the loop, until the server shuts down.
func (s *archServer) worker() {
	defer s.workers.Done()
	for conn := range s.jobs {
		conn.work(s.cfg.spinPerNs)
		s.postReply(conn)
	}
}

// postReply hands conn back to its loop to send the reply. The inbox is
// sized so that it cannot fill (see startArchServer), but a full inbox is
// a normal answer of Post, so it is handled: first by yielding the
// processor, which lets the loop's thread run and drain its inbox, then
// by sleeping, and after postGiveUp by dropping the reply (and the
// connection's descriptor, which the loop will never touch again), so
// that a stuck loop cannot hold a worker forever. ErrClosed means the
// loop has begun closing and will not take the connection back: the
// worker closes its descriptor itself.
func (s *archServer) postReply(conn *archConn) {
	var deadline time.Time
	for attempt := 0; ; attempt++ {
		err := ioloop.Post(conn.shard.Loop, conn, (*archConn).sendReply)
		if err == nil {
			return
		}
		if !errors.Is(err, ioloop.ErrQueueFull) {
			_ = unix.Close(conn.FD)
			return
		}
		s.postRetries.Add(1)
		switch {
		case attempt < postSpinAttempts:
			runtime.Gosched()
		case deadline.IsZero():
			deadline = time.Now().Add(postGiveUp)
			time.Sleep(postBackoff)
		case time.Now().After(deadline):
			s.postDropped.Add(1)
			_ = unix.Close(conn.FD)
			return
		default:
			time.Sleep(postBackoff)
		}
	}
}

// serveArch is `bench arch -serve`: it runs one server until SIGINT or
// SIGTERM, printing "listening on ADDR arch=A backend=B" first and a
// summary line last.
func serveArch(cfg archServerConfig, addr netip.AddrPort, stdout, stderr io.Writer) int {
	const name = "ioloop bench arch -serve"
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	srv, err := startArchServer(cfg, addr)
	if err != nil {
		return fail(stderr, name, err)
	}
	if l := srv.group.Loop(0); l.FallbackReason() != nil {
		fmt.Fprintf(stderr, "# backend %s: auto fell back from io_uring: %v\n", l.Backend(), l.FallbackReason())
	}
	_, printErr := fmt.Fprintf(stdout, "listening on %s arch=%s backend=%s\n", srv.addr, cfg.arch, srv.backend())
	if printErr == nil {
		<-signals
	}
	st, err := srv.shutdown()
	if err = errors.Join(printErr, err); err != nil {
		return fail(stderr, name, err)
	}
	if _, err := fmt.Fprintf(stdout, "summary requests=%d rejected=%d post_retries=%d post_dropped=%d\n",
		st.requests, st.rejected, st.postRetries, st.postDropped); err != nil {
		return fail(stderr, name, err)
	}
	return exitOK
}
