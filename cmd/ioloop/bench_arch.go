package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// `ioloop bench arch` compares the two ways beyond one thread that
// TigerBeetle's I/O article names, on a request/response workload whose
// requests each cost a calibrated amount of CPU on the server:
//
//   - percore: a Group of loops, one per CPU, each with its own
//     SO_REUSEPORT listener (ListenTCPShards), doing the work inline in its
//     Recv callback. No cross-thread traffic at all.
//   - pool: one loop does all the I/O and hands each request to a pool of
//     worker goroutines through a bounded channel; the worker does the
//     work and hands the reply back with ioloop.Post, and the loop sends
//     it. Two cross-thread hand-offs per request.
//   - single: one loop doing the work inline: the baseline both improve on.
//
// The server runs in a child process (this binary, `bench arch -serve`),
// so that its CPU time can be read from /proc without the load
// generator's; the load generator is one ioloop loop in this process.

// Architectures and work distributions.
const (
	archPerCore = "percore"
	archPool    = "pool"
	archSingle  = "single"

	distEven   = "even"
	distUneven = "uneven"
)

// The wire format, little-endian. A request is the request id (uint64),
// the work it asks for in nanoseconds (uint32) and the client's
// connection index (uint32); the reply is the request followed by the
// result of the work (uint64), so the client can check that each reply
// answers its own request and the work cannot be optimized away.
const (
	archRequestSize = 16
	archReplySize   = archRequestSize + 8
)

// The uneven distribution: every unevenEvery-th request the client issues
// costs unevenFactor times the work, the others the work itself. So 5% of
// the requests carry half of the CPU time (the mean request costs 1.95×
// the work), which is the shape that hurts a loop doing work inline: a
// heavy request stalls every other connection of its loop for 20× the
// usual time. A deterministic pattern rather than a random draw keeps runs
// comparable.
const (
	unevenEvery  = 20
	unevenFactor = 20
)

// maxWork bounds the work of one request, as the server checks it: a
// request asking for more is a protocol error, not a reason to stall.
const maxWork = time.Second

// archAcceptDepth is how many Accepts each server loop keeps in flight, as
// the echo server does (see acceptDepth there).
const archAcceptDepth = 4

// Timeouts of the server child and of the client's connecting, and how
// often the client looks up from its loop to check the clock.
const (
	archServerStartTimeout = 10 * time.Second
	archServerStopTimeout  = 10 * time.Second
	archConnectTimeout     = 10 * time.Second
	archCheckInterval      = 100 * time.Millisecond
)

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
	srv      *archServer
	loop     *ioloop.Loop
	listenFD int
	accepts  [archAcceptDepth]ioloop.Completion
	free     *archConn // closed connections, for reuse
	limit    int       // connections at once; 0: no limit
	active   int
	requests int64 // requests received
	rejected int64 // connections closed at once because of limit
	failure  error // first protocol or accept failure
}

// archConn is one server connection. It has one operation in flight at a
// time (Recv, then Send, or Close), or none while a pool worker holds it.
type archConn struct {
	shard *archShard
	fd    int
	c     ioloop.Completion
	got   int // bytes of the current request received
	req   [archRequestSize]byte
	reply [archReplySize]byte
	next  *archConn
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
		s.shards[i] = &archShard{srv: s, listenFD: fds[i]}
	}
	if cfg.arch == archPool {
		s.jobs = make(chan *archConn, cfg.maxConns)
		s.shards[0].limit = cfg.maxConns
	}
	s.group, err = ioloop.StartGroup(ioloop.GroupOptions{Loops: cfg.loops, Loop: cfg.loop}, func(l *ioloop.Loop, i int) error {
		sh := s.shards[i]
		sh.loop = l
		for j := range sh.accepts {
			sh.accept(&sh.accepts[j])
		}
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

func (sh *archShard) accept(c *ioloop.Completion) {
	ioloop.Accept(sh.loop, c, sh.listenFD, sh, (*archShard).onAccept)
}

func (sh *archShard) onAccept(c *ioloop.Completion, fd int, err error) {
	if err != nil {
		switch classifyAcceptError(err) {
		case acceptStopped:
		case acceptRetryLater:
			ioloop.Timeout(sh.loop, c, acceptBackoff, sh, (*archShard).onAcceptBackoff)
		case acceptRetryNow:
			sh.accept(c)
		default:
			sh.fail(fmt.Errorf("accept: %w", err))
		}
		return
	}
	sh.accept(c)
	if sh.limit > 0 && sh.active >= sh.limit {
		sh.rejected++
		_ = unix.Close(fd)
		return
	}
	sh.active++
	conn := sh.free
	if conn != nil {
		sh.free = conn.next
		conn.next = nil
	} else {
		conn = &archConn{shard: sh}
	}
	conn.fd, conn.got = fd, 0
	conn.recv()
}

func (sh *archShard) onAcceptBackoff(c *ioloop.Completion, err error) {
	if err == nil {
		sh.accept(c)
	}
}

func (conn *archConn) recv() {
	ioloop.Recv(conn.shard.loop, &conn.c, conn.fd, conn.req[conn.got:], conn, (*archConn).onRecv)
}

// onRecv collects one request (the client sends the next only after the
// reply, so a receive never holds more than the rest of one request), then
// does the work inline or hands it to the pool.
func (conn *archConn) onRecv(_ *ioloop.Completion, n int, err error) {
	if err != nil { // EOF, a reset, or cancellation by Close
		conn.close()
		return
	}
	conn.got += n
	if conn.got < archRequestSize {
		conn.recv()
		return
	}
	conn.got = 0
	sh := conn.shard
	if time.Duration(binary.LittleEndian.Uint32(conn.req[8:12])) > maxWork {
		sh.fail(fmt.Errorf("a request asked for more than %v of work", maxWork))
		conn.close()
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
		conn.close()
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
func (conn *archConn) sendReply() {
	ioloop.Send(conn.shard.loop, &conn.c, conn.fd, conn.reply[:], conn, (*archConn).onSend)
}

func (conn *archConn) onSend(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		conn.close()
		return
	}
	conn.recv()
}

func (conn *archConn) close() {
	ioloop.Close(conn.shard.loop, &conn.c, conn.fd, conn, (*archConn).onClosed)
}

func (conn *archConn) onClosed(_ *ioloop.Completion, err error) {
	// A Close the loop never ran (closing, or canceled) left the
	// descriptor open, as in the echo server.
	if errors.Is(err, ioloop.ErrClosed) || errors.Is(err, ioloop.ErrCanceled) {
		_ = unix.Close(conn.fd)
	}
	sh := conn.shard
	sh.active--
	conn.fd = -1
	conn.next = sh.free
	sh.free = conn
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
		err := ioloop.Post(conn.shard.loop, conn, (*archConn).sendReply)
		if err == nil {
			return
		}
		if !errors.Is(err, ioloop.ErrQueueFull) {
			_ = unix.Close(conn.fd)
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
			_ = unix.Close(conn.fd)
			return
		default:
			time.Sleep(postBackoff)
		}
	}
}

// archClient is the closed-loop load generator: every connection sends a
// request, waits for its reply, checks it, and sends the next. Send and
// Recv are submitted together, so a round trip costs one loop pass.
type archClient struct {
	loop  *ioloop.Loop
	addr  netip.AddrPort
	conns []archClientConn
	work  time.Duration
	dist  string
	epoch time.Time

	issued    uint64 // requests sent, which picks the heavy ones
	connected int
	measuring bool
	stopping  bool
	requests  int64 // completed while measuring
	latency   histogram
	light     histogram // requests that cost the base work only
	err       error
}

type archClientConn struct {
	cl      *archClient
	index   uint32
	fd      int
	send    ioloop.Completion
	recv    ioloop.Completion
	req     [archRequestSize]byte
	reply   [archReplySize]byte
	got     int
	sent    bool
	heavy   bool
	started time.Duration
}

func newArchClient(loop *ioloop.Loop, addr netip.AddrPort, conns int, work time.Duration, dist string) *archClient {
	cl := &archClient{loop: loop, addr: addr, conns: make([]archClientConn, conns), work: work, dist: dist, epoch: time.Now()}
	for i := range cl.conns {
		cl.conns[i] = archClientConn{cl: cl, index: uint32(i), fd: -1}
	}
	return cl
}

func (cl *archClient) setErr(err error) {
	if cl.err == nil {
		cl.err = err
	}
}

func (cl *archClient) connectAll() error {
	for i := range cl.conns {
		conn := &cl.conns[i]
		fd, err := ioloop.TCPSocket(cl.addr)
		if err != nil {
			return fmt.Errorf("socket for connection %d: %w", i, err)
		}
		conn.fd = fd
		ioloop.Connect(cl.loop, &conn.send, fd, cl.addr, conn, (*archClientConn).onConnect)
	}
	return nil
}

func (conn *archClientConn) onConnect(_ *ioloop.Completion, err error) {
	if err != nil {
		conn.cl.setErr(fmt.Errorf("connect to %s: %w", conn.cl.addr, err))
		return
	}
	conn.cl.connected++
}

func (conn *archClientConn) start() {
	cl := conn.cl
	cl.issued++
	work := cl.work
	conn.heavy = cl.dist == distUneven && cl.issued%unevenEvery == 0
	if conn.heavy {
		work *= unevenFactor
	}
	binary.LittleEndian.PutUint64(conn.req[0:8], cl.issued)
	binary.LittleEndian.PutUint32(conn.req[8:12], uint32(work.Nanoseconds()))
	binary.LittleEndian.PutUint32(conn.req[12:16], conn.index)
	conn.got, conn.sent = 0, false
	conn.started = time.Since(cl.epoch)
	ioloop.Send(cl.loop, &conn.send, conn.fd, conn.req[:], conn, (*archClientConn).onSend)
	ioloop.Recv(cl.loop, &conn.recv, conn.fd, conn.reply[:], conn, (*archClientConn).onRecv)
}

func (conn *archClientConn) onSend(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		conn.fault("send", err)
		return
	}
	conn.sent = true
	if conn.got == archReplySize {
		conn.finish()
	}
}

func (conn *archClientConn) onRecv(c *ioloop.Completion, n int, err error) {
	if err != nil {
		conn.fault("recv", err)
		return
	}
	conn.got += n
	if conn.got < archReplySize {
		ioloop.Recv(conn.cl.loop, c, conn.fd, conn.reply[conn.got:], conn, (*archClientConn).onRecv)
		return
	}
	if conn.sent {
		conn.finish()
	}
}

// checkReply reports whether reply answers req: the same id, work and
// connection, followed by the work's result.
func checkReply(req *[archRequestSize]byte, reply *[archReplySize]byte) error {
	if !bytes.Equal(reply[:archRequestSize], req[:]) {
		return fmt.Errorf("reply %x does not answer request %x (id, work, connection)", reply[:archRequestSize], req[:])
	}
	return nil
}

func (conn *archClientConn) finish() {
	cl := conn.cl
	if err := checkReply(&conn.req, &conn.reply); err != nil {
		cl.setErr(err)
		return
	}
	if cl.measuring {
		d := time.Since(cl.epoch) - conn.started
		cl.latency.record(d)
		if !conn.heavy {
			cl.light.record(d)
		}
		cl.requests++
	}
	if !cl.stopping && cl.err == nil {
		conn.start()
	}
}

func (conn *archClientConn) fault(op string, err error) {
	if conn.cl.stopping && errors.Is(err, ioloop.ErrCanceled) {
		return
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the server closed the connection")
	}
	conn.cl.setErr(fmt.Errorf("%s: %w", op, err))
}

// runUntil runs the loop for up to d, in slices of archCheckInterval,
// returning early on failure or when done (if not nil) reports true.
func (cl *archClient) runUntil(d time.Duration, done func() bool) error {
	deadline := time.Now().Add(d)
	for cl.err == nil && (done == nil || !done()) {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		if err := cl.loop.RunFor(min(left, archCheckInterval)); err != nil {
			return err
		}
	}
	return cl.err
}

// machineBusy returns the CPU time all CPUs of the machine have spent
// busy (user, nice, system, irq, softirq, steal) from /proc/stat, or -1
// where there is no /proc/stat. Less this process's and the server's, it
// is what everything else on the machine took over a window: on a shared
// machine the one number that says whether a run was disturbed.
func machineBusy() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line) // "cpu user nice system idle iowait irq softirq steal ..."
	if len(fields) < 9 || fields[0] != "cpu" {
		return -1
	}
	var ticks uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseUint(fields[i], 10, 64)
		if err != nil {
			return -1
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ)
}

// archProbe measures the server over the client's measured window: begin
// runs right before it, end right after.
type archProbe struct{ begin, end func() error }

// archResult is one measured run.
type archResult struct {
	requests        int64
	lightRequests   int64         // of requests, those costing the base work
	iv              interval      // the client's wall and CPU time
	serverCPU       time.Duration // over the same window; -1: unknown
	machineCPU      time.Duration // every process's, over the same window; -1: unknown
	p50, p99, light time.Duration // light: p99 of the requests costing the base work
}

// run connects, warms up, measures for duration with probe (if not nil)
// around the window, and stops.
func (cl *archClient) run(connectTimeout, warmup, duration time.Duration, probe *archProbe) (archResult, error) {
	if err := cl.connectAll(); err != nil {
		return archResult{}, err
	}
	allConnected := func() bool { return cl.connected == len(cl.conns) }
	if err := cl.runUntil(connectTimeout, allConnected); err != nil {
		return archResult{}, err
	}
	if !allConnected() {
		return archResult{}, fmt.Errorf("only %d of %d connections were established within %v", cl.connected, len(cl.conns), connectTimeout)
	}
	for i := range cl.conns {
		cl.conns[i].start()
	}
	if err := cl.runUntil(warmup, nil); err != nil {
		return archResult{}, err
	}
	if probe != nil {
		if err := probe.begin(); err != nil {
			return archResult{}, err
		}
	}
	busy := machineBusy()
	m, err := startMeter()
	if err != nil {
		return archResult{}, err
	}
	cl.measuring = true
	if err := cl.runUntil(duration, nil); err != nil {
		return archResult{}, err
	}
	cl.measuring = false
	iv, err := m.stop()
	if err != nil {
		return archResult{}, err
	}
	machineCPU := time.Duration(-1)
	if end := machineBusy(); busy >= 0 && end >= 0 {
		machineCPU = end - busy
	}
	if probe != nil {
		if err := probe.end(); err != nil {
			return archResult{}, err
		}
	}
	cl.stopping = true
	if cl.requests == 0 {
		return archResult{}, errors.New("no request completed while measuring")
	}
	return archResult{
		requests: cl.requests, lightRequests: int64(cl.light.total), iv: iv, serverCPU: -1, machineCPU: machineCPU,
		p50: cl.latency.quantile(0.50), p99: cl.latency.quantile(0.99), light: cl.light.quantile(0.99),
	}, nil
}

// closeAll closes the client's sockets; the loop must have closed first.
func (cl *archClient) closeAll() {
	for i := range cl.conns {
		if cl.conns[i].fd >= 0 {
			_ = unix.Close(cl.conns[i].fd)
			cl.conns[i].fd = -1
		}
	}
}

// runArchClient runs one measured run of the load generator against addr.
func runArchClient(opts ioloop.Options, addr netip.AddrPort, conns int, work time.Duration, dist string,
	warmup, duration time.Duration, probe *archProbe, stderr io.Writer) (archResult, error) {
	loop, err := newLoop(opts, stderr)
	if err != nil {
		return archResult{}, err
	}
	cl := newArchClient(loop, addr, conns, work, dist)
	res, runErr := cl.run(archConnectTimeout, warmup, duration, probe)
	closeErr := loop.Close() // cancels the Recvs still waiting; then the sockets may go
	cl.closeAll()
	return res, errors.Join(runErr, closeErr)
}

// archServerProcess is the server of one run: `bench arch -serve ARCH`
// started from this binary, as `bench echo -server` starts `ioloop echo`.
type archServerProcess struct {
	cmd     *exec.Cmd
	stdout  lockedBuffer
	stderr  lockedBuffer
	exited  chan struct{}
	waitErr error
	addr    netip.AddrPort
	backend string
}

func startArchServerProcess(cfg archServerConfig, backend backendFlag) (*archServerProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to start the server: %w", err)
	}
	args := []string{"bench", "arch", "-serve", cfg.arch, "-addr", "127.0.0.1:0",
		"-loops", strconv.Itoa(cfg.loops), "-workers", strconv.Itoa(cfg.workers), "-max-conns", strconv.Itoa(cfg.maxConns),
		"-spin-per-ns", strconv.FormatFloat(cfg.spinPerNs, 'g', -1, 64), "-backend", backend.String()}
	if cfg.loop.Entries != 0 {
		args = append(args, "-entries", strconv.FormatUint(uint64(cfg.loop.Entries), 10))
	}
	p := &archServerProcess{cmd: exec.Command(exe, args...), exited: make(chan struct{})}
	if cfg.procs > 0 {
		p.cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(cfg.procs))
	}
	p.stdout.lineDone = make(chan struct{})
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the %s server: %w", cfg.arch, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case <-p.stdout.lineDone:
	case <-p.exited:
		return nil, p.failure("exited before listening")
	case <-time.After(archServerStartTimeout):
		p.kill()
		return nil, p.failure("did not listen in time")
	}
	// "listening on ADDR arch=A backend=B"
	line, _, _ := strings.Cut(p.stdout.String(), "\n")
	fields := strings.Fields(line)
	if len(fields) < 4 || fields[0] != "listening" || fields[1] != "on" || !strings.HasPrefix(fields[len(fields)-1], "backend=") {
		p.kill()
		return nil, p.failure(fmt.Sprintf("printed %q", line))
	}
	if p.addr, err = netip.ParseAddrPort(fields[2]); err != nil {
		p.kill()
		return nil, p.failure(fmt.Sprintf("printed an address that does not parse: %v", err))
	}
	p.backend = strings.TrimPrefix(fields[len(fields)-1], "backend=")
	return p, nil
}

func (p *archServerProcess) failure(what string) error {
	msg := fmt.Sprintf("the server (%s) %s", strings.Join(p.cmd.Args[1:], " "), what)
	if out := strings.TrimSpace(p.stdout.String() + p.stderr.String()); out != "" {
		msg += "; it printed:\n" + out
	}
	return errors.New(msg)
}

// cpuProbe reads the server's CPU time at both ends of the window into
// *cpu; where that is impossible (outside Linux) it leaves *cpu at -1.
func (p *archServerProcess) cpuProbe(cpu *time.Duration) *archProbe {
	var begin time.Duration
	*cpu = -1
	return &archProbe{
		begin: func() error {
			var err error
			if begin, err = processCPUOf(p.cmd.Process.Pid); err != nil {
				begin = -1
			}
			return nil
		},
		end: func() error {
			end, err := processCPUOf(p.cmd.Process.Pid)
			if err == nil && begin >= 0 {
				*cpu = end - begin
			}
			return nil
		},
	}
}

// stop sends SIGTERM and returns the server's summary line's counters.
func (p *archServerProcess) stop() (archServerStats, error) {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.kill()
		return archServerStats{}, err
	}
	select {
	case <-p.exited:
	case <-time.After(archServerStopTimeout):
		p.kill()
		return archServerStats{}, p.failure("did not exit after SIGTERM")
	}
	if p.waitErr != nil {
		return archServerStats{}, p.failure(fmt.Sprintf("failed (%v)", p.waitErr))
	}
	var st archServerStats
	for line := range strings.Lines(p.stdout.String()) {
		if !strings.HasPrefix(line, "summary ") {
			continue
		}
		for kv := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "requests":
				st.requests = n
			case "post_retries":
				st.postRetries = n
			case "post_dropped":
				st.postDropped = n
			case "rejected":
				st.rejected = n
			}
		}
		return st, nil
	}
	return st, p.failure("exited without its summary")
}

func (p *archServerProcess) kill() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// listFlag is a flag.Value for a comma-separated list of words from a
// fixed set.
type listFlag struct {
	values  []string
	choices []string
}

func (f *listFlag) String() string { return strings.Join(f.values, ",") }

func (f *listFlag) Set(text string) error {
	var values []string
	for v := range strings.SplitSeq(text, ",") {
		if !slices.Contains(f.choices, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(f.choices, ", "))
		}
		if !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	f.values = values
	return nil
}

// durationsFlag is a flag.Value for a comma-separated list of durations,
// such as 0,20us,100us.
type durationsFlag []time.Duration

func (f *durationsFlag) String() string {
	parts := make([]string, len(*f))
	for i, d := range *f {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

func (f *durationsFlag) Set(text string) error {
	var values []time.Duration
	for v := range strings.SplitSeq(text, ",") {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d < 0 || d*unevenFactor > maxWork {
			return fmt.Errorf("%v: work must be in 0..%v", d, maxWork/unevenFactor)
		}
		values = append(values, d)
	}
	*f = values
	return nil
}

// archCell is one point of the matrix, and the runs measured there.
type archCell struct {
	arch, dist string
	work       time.Duration
	runs       []archRun
}

type archRun struct {
	reqsPerSec, p50, p99, light float64 // latencies in µs
	serverCPU, clientCPU        float64 // µs per request; serverCPU < 0: unknown
	serverUtil, clientUtil      float64 // CPUs busy
	otherUtil                   float64 // CPUs the rest of the machine kept busy; < 0: unknown
	postRetries                 int64
}

func runBenchArch(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ioloop bench arch",
		"ioloop bench arch [-arch percore,pool,single] [-dist even,uneven] [-work 0,20us,100us] [-reps 3] [-conns 64]\n"+
			"       [-loops N] [-workers N] [-duration 2s] [-warmup 500ms] [-backend B] [-entries N] [-json] [-markdown]", stderr)
	archs := &listFlag{values: []string{archPerCore, archPool, archSingle}, choices: []string{archPerCore, archPool, archSingle}}
	fs.Var(archs, "arch", "server `architectures`, comma-separated: percore (a Group of -loops loops, SO_REUSEPORT, work inline), "+
		"pool (one I/O loop, -workers goroutines do the work, replies return by ioloop.Post), single (one loop, work inline)")
	dists := &listFlag{values: []string{distEven, distUneven}, choices: []string{distEven, distUneven}}
	fs.Var(dists, "dist", fmt.Sprintf("work `distributions`, comma-separated: even (every request costs -work) or uneven "+
		"(every %dth request costs %d× -work; skipped where -work is 0)", unevenEvery, unevenFactor))
	works := &durationsFlag{0, 20 * time.Microsecond, 100 * time.Microsecond}
	fs.Var(works, "work", "server CPU `work` per request, comma-separated durations (a calibrated busy loop)")
	reps := fs.Int("reps", 3, "repetitions of the whole matrix, interleaved; the summary lines give medians")
	conns := fs.Int("conns", 64, "client connections, each with one request in flight")
	defaultCPUs := runtime.NumCPU()
	if cpus, err := allowedCPUs(); err == nil {
		defaultCPUs = len(cpus)
	}
	loops := fs.Int("loops", defaultCPUs, "percore: loops in the group; the default is one per CPU this process may use")
	workers := fs.Int("workers", 0, "pool: worker goroutines (0: as many as -loops)")
	procs := fs.Int("server-procs", 0, "GOMAXPROCS of the server processes (0: Go's default, the CPUs available); "+
		"the pool's workers and its loop's locked thread share these Ps")
	maxConns := fs.Int("max-conns", 4096, "pool: connections the server serves at once, which sizes its job channel and inbox so neither can fill")
	duration := fs.Duration("duration", 2*time.Second, "how long to measure each run")
	warmup := fs.Duration("warmup", 500*time.Millisecond, "how long to run before measuring")
	lf := addLoopFlags(fs, "submission queue size of the client's and the server's loops (0: library default)")
	asJSON := fs.Bool("json", false, "print results as JSON objects")
	markdown := fs.Bool("markdown", false, "also print the medians as a Markdown table")
	serve := fs.String("serve", "", "internal: run only the server of this `architecture` until SIGTERM (the child each run starts)")
	addrText := fs.String("addr", "127.0.0.1:0", "with -serve, the address to listen on")
	spinPerNs := fs.Float64("spin-per-ns", 0, "with -serve, busy-loop rounds per nanosecond of work (0: calibrate)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := lf.check(fs); !ok {
		return code
	}
	switch {
	case *reps < 1 || *reps > 100:
		return usageError(fs, "-reps must be in 1..100, got %d", *reps)
	case *conns < 1 || *conns > 1<<16:
		return usageError(fs, "-conns must be in 1..65536, got %d", *conns)
	case *loops < 1 || *loops > 1024:
		return usageError(fs, "-loops must be in 1..1024, got %d", *loops)
	case *procs < 0 || *procs > 1024:
		return usageError(fs, "-server-procs must be in 0..1024, got %d", *procs)
	case *workers < 0 || *workers > 1024:
		return usageError(fs, "-workers must be in 0..1024, got %d", *workers)
	case *maxConns < 1 || *maxConns > ioloop.MaxInboxEntries:
		return usageError(fs, "-max-conns must be in 1..%d, got %d", ioloop.MaxInboxEntries, *maxConns)
	case *duration <= 0 || *warmup < 0:
		return usageError(fs, "-duration must be positive and -warmup not negative")
	case *spinPerNs < 0:
		return usageError(fs, "-spin-per-ns must not be negative")
	case len(archs.values) == 0 || len(dists.values) == 0 || len(*works) == 0:
		return usageError(fs, "-arch, -dist and -work need at least one value each")
	}
	if *workers == 0 {
		*workers = *loops
	}
	if *spinPerNs == 0 {
		*spinPerNs = calibrateSpin()
	}
	cfg := archServerConfig{loops: *loops, workers: *workers, maxConns: *maxConns, spinPerNs: *spinPerNs, procs: *procs,
		loop: ioloop.Options{Backend: lf.backend.Backend, Entries: uint32(lf.entries)}}

	if *serve != "" {
		addr, err := netip.ParseAddrPort(*addrText)
		if err != nil {
			return usageError(fs, "-addr must be IP:port: %v", err)
		}
		cfg.arch = *serve
		return serveArch(cfg, addr, stdout, stderr)
	}
	if code, ok := rejectFlags(fs, "the benchmark (only -serve)", "addr"); !ok {
		return code
	}
	if err := raiseNoFile(uint64(*conns) + 64); err != nil {
		return fail(stderr, fs.Name(), err)
	}
	fmt.Fprintf(stderr, "# busy loop: %.3f rounds/ns; server and client share this machine's %d CPUs, unpinned\n", *spinPerNs, runtime.NumCPU())

	// The matrix, in the order each repetition runs it: all cells once,
	// then again, so that slow phases of a noisy machine spread over every
	// cell instead of landing on one.
	var cells []*archCell
	for _, work := range *works {
		for _, dist := range dists.values {
			if dist == distUneven && work == 0 {
				continue // 20 × 0 is 0: the same as even
			}
			for _, arch := range archs.values {
				cells = append(cells, &archCell{arch: arch, dist: dist, work: work})
			}
		}
	}
	if len(cells) == 0 {
		return usageError(fs, "nothing to run: -dist uneven alone needs a -work above 0")
	}
	for rep := range *reps {
		for _, cell := range cells {
			run, err := runArchCell(cell, cfg, lf, *conns, *warmup, *duration, stderr)
			if err != nil {
				return fail(stderr, fs.Name(), fmt.Errorf("%s/%s/%v: %w", cell.arch, cell.dist, cell.work, err))
			}
			cell.runs = append(cell.runs, run)
			r := cellReport("arch_run", cell, cfg, *conns).int("rep", int64(rep+1))
			addArchRun(r, run)
			r.int("post_retries", run.postRetries)
			if err := r.write(stdout, *asJSON); err != nil {
				return fail(stderr, fs.Name(), err)
			}
		}
	}
	for _, cell := range cells {
		r := cellReport("arch", cell, cfg, *conns).int("reps", int64(len(cell.runs)))
		addArchRun(r, medianRun(cell.runs))
		if err := r.write(stdout, *asJSON); err != nil {
			return fail(stderr, fs.Name(), err)
		}
	}
	if *markdown {
		if err := writeArchTable(stdout, cells); err != nil {
			return fail(stderr, fs.Name(), err)
		}
	}
	return exitOK
}

// runArchCell measures one run: a fresh server process, then the client.
func runArchCell(cell *archCell, cfg archServerConfig, lf *loopFlags, conns int, warmup, duration time.Duration, stderr io.Writer) (archRun, error) {
	cfg.arch = cell.arch
	srv, err := startArchServerProcess(cfg, lf.backend)
	if err != nil {
		return archRun{}, err
	}
	var serverCPU time.Duration
	res, err := runArchClient(lf.options(), srv.addr, conns, cell.work, cell.dist, warmup, duration, srv.cpuProbe(&serverCPU), stderr)
	if err != nil {
		srv.kill()
		return archRun{}, errors.Join(err, srv.failure("was serving"))
	}
	st, err := srv.stop()
	if err != nil {
		return archRun{}, err
	}
	if st.postDropped > 0 || st.rejected > 0 {
		return archRun{}, fmt.Errorf("the server dropped %d replies and rejected %d connections", st.postDropped, st.rejected)
	}
	run := archRun{
		reqsPerSec: res.iv.perSecond(res.requests),
		p50:        float64(res.p50) / 1e3, p99: float64(res.p99) / 1e3, light: float64(res.light) / 1e3,
		clientCPU: res.iv.cpuMicrosPer(res.requests), serverCPU: -1, serverUtil: -1,
		clientUtil:  res.iv.cpu.Seconds() / res.iv.wall.Seconds(),
		otherUtil:   -1,
		postRetries: st.postRetries,
	}
	if serverCPU >= 0 {
		run.serverCPU = res.iv.cpuMicrosPerOf(serverCPU, res.requests)
		run.serverUtil = serverCPU.Seconds() / res.iv.wall.Seconds()
		if res.machineCPU >= 0 {
			// /proc's 10 ms ticks can make this slightly negative.
			run.otherUtil = max(0, (res.machineCPU-serverCPU-res.iv.cpu).Seconds()/res.iv.wall.Seconds())
		}
	}
	return run, nil
}

func cellReport(name string, cell *archCell, cfg archServerConfig, conns int) *report {
	r := newReport(name).str("arch", cell.arch).str("dist", cell.dist).
		float("work_us", float64(cell.work)/1e3, 0).int("conns", int64(conns))
	switch cell.arch {
	case archPerCore:
		r.int("loops", int64(cfg.loops)).int("workers", 0)
	case archPool:
		r.int("loops", 1).int("workers", int64(cfg.workers))
	default:
		r.int("loops", 1).int("workers", 0)
	}
	return r
}

func addArchRun(r *report, run archRun) {
	r.float("reqs_per_sec", run.reqsPerSec, 0).
		float("p50_us", run.p50, 1).float("p99_us", run.p99, 1).float("light_p99_us", run.light, 1)
	if run.serverCPU >= 0 {
		r.float("server_cpu_us_per_req", run.serverCPU, 2).float("server_cpu_util", run.serverUtil, 2)
	}
	r.float("client_cpu_us_per_req", run.clientCPU, 2).float("client_cpu_util", run.clientUtil, 2)
	if run.otherUtil >= 0 {
		r.float("other_cpu_util", run.otherUtil, 2)
	}
}

// medianRun takes the median of each measure separately (the upper median
// for an even number of runs).
func medianRun(runs []archRun) archRun {
	med := func(get func(archRun) float64) float64 {
		values := make([]float64, len(runs))
		for i, run := range runs {
			values[i] = get(run)
		}
		slices.Sort(values)
		return values[len(values)/2]
	}
	return archRun{
		reqsPerSec: med(func(r archRun) float64 { return r.reqsPerSec }),
		p50:        med(func(r archRun) float64 { return r.p50 }),
		p99:        med(func(r archRun) float64 { return r.p99 }),
		light:      med(func(r archRun) float64 { return r.light }),
		serverCPU:  med(func(r archRun) float64 { return r.serverCPU }),
		clientCPU:  med(func(r archRun) float64 { return r.clientCPU }),
		serverUtil: med(func(r archRun) float64 { return r.serverUtil }),
		clientUtil: med(func(r archRun) float64 { return r.clientUtil }),
		otherUtil:  med(func(r archRun) float64 { return r.otherUtil }),
	}
}

func writeArchTable(w io.Writer, cells []*archCell) error {
	var b strings.Builder
	b.WriteString("\n| work | dist | arch | req/s | p50 µs | p99 µs | light p99 µs | server CPU µs/req | client CPU µs/req | others, CPUs |\n")
	b.WriteString("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, cell := range cells {
		m := medianRun(cell.runs)
		server := "n/a"
		if m.serverCPU >= 0 {
			server = strconv.FormatFloat(m.serverCPU, 'f', 1, 64)
		}
		fmt.Fprintf(&b, "| %v | %s | %s | %.0f | %.0f | %.0f | %.0f | %s | %.1f | %.2f |\n",
			cell.work, cell.dist, cell.arch, m.reqsPerSec, m.p50, m.p99, m.light, server, m.clientCPU, m.otherUtil)
	}
	_, err := io.WriteString(w, b.String())
	return err
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

// Ensure flag.Value implementations.
var (
	_ flag.Value = (*listFlag)(nil)
	_ flag.Value = (*durationsFlag)(nil)
)
