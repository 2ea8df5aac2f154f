package echo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/bench/internal/samples"
	"github.com/ioloop/ioloop/bench/internal/sysx"
	"golang.org/x/sys/unix"
)

// The load generator is the same for every server: ioloop on io_uring
// (epoll where io_uring is refused), one goroutine, pinned by the parent
// to its own CPU. Each connection keeps one message in flight: it submits
// the Send and the Recv of a message together (one loop pass per round
// trip), checks that the reply is what it sent, and starts the next.

// ClientConfig says what one load generator run does.
type ClientConfig struct {
	Addr       netip.AddrPort
	Conns      int
	Size       int
	ServerPID  int           // the server process, measured through /proc and perf
	Warmup     time.Duration // load before measuring
	Window     time.Duration // the measured window: rate, latency, CPU, RSS
	PerfWindow time.Duration // a second window with perf counting the server's system calls; 0: none
	// Idle makes the run the memory workload: every connection makes one
	// round trip and then stays idle.
	Idle bool
}

// connectDepth bounds the connects in flight: the listen backlog
// (SOMAXCONN, 4096) overflows with 10,000 at once, and a dropped SYN is
// retried only after a second.
const connectDepth = 256

type loadgen struct {
	cfg   ClientConfig
	loop  *ioloop.Loop
	conns []lgConn
	epoch time.Time

	nextConnect int
	connected   int
	finished    int // round trips completed in idle mode
	measuring   bool
	stopping    bool
	messages    int64
	latency     *samples.Recorder
	err         error
}

type lgConn struct {
	g          *loadgen
	fd         int
	out, in    []byte
	got        int
	sendDone   bool
	sentAt     time.Duration // since epoch
	send, recv ioloop.Completion
}

func newLoadgen(cfg ClientConfig) (*loadgen, error) {
	loop, err := ioloop.New(ioloop.Options{Entries: 4096})
	if err != nil {
		return nil, err
	}
	g := &loadgen{cfg: cfg, loop: loop, conns: make([]lgConn, cfg.Conns), epoch: time.Now(), latency: samples.New(1 << 22)}
	buf := make([]byte, 2*cfg.Conns*cfg.Size)
	for i := range g.conns {
		c := &g.conns[i]
		c.g, c.fd = g, -1
		c.out, buf = buf[:cfg.Size:cfg.Size], buf[cfg.Size:]
		c.in, buf = buf[:cfg.Size:cfg.Size], buf[cfg.Size:]
		for j := range c.out {
			c.out[j] = byte(i + 7*j) // a pattern per connection: crossed replies are caught
		}
	}
	return g, nil
}

func (g *loadgen) fail(err error) {
	if g.err == nil && !(g.stopping && errors.Is(err, ioloop.ErrCanceled)) {
		g.err = err
	}
}

func (g *loadgen) connectNext() {
	if g.nextConnect == len(g.conns) {
		return
	}
	c := &g.conns[g.nextConnect]
	g.nextConnect++
	fd, err := ioloop.TCPSocket(g.cfg.Addr)
	if err != nil {
		g.fail(fmt.Errorf("socket: %w", err))
		return
	}
	c.fd = fd
	ioloop.Connect(g.loop, &c.send, fd, g.cfg.Addr, c, (*lgConn).onConnect)
}

func (c *lgConn) onConnect(_ *ioloop.Completion, err error) {
	if err != nil {
		c.g.fail(fmt.Errorf("connect: %w", err))
		return
	}
	c.g.connected++
	c.g.connectNext()
}

func (c *lgConn) start() {
	c.got, c.sendDone = 0, false
	c.sentAt = time.Since(c.g.epoch)
	ioloop.Send(c.g.loop, &c.send, c.fd, c.out, c, (*lgConn).onSend)
	ioloop.Recv(c.g.loop, &c.recv, c.fd, c.in, c, (*lgConn).onRecv)
}

func (c *lgConn) onSend(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		c.g.fail(fmt.Errorf("send: %w", err))
		return
	}
	c.sendDone = true
	if c.got == len(c.in) {
		c.roundTrip()
	}
}

func (c *lgConn) onRecv(op *ioloop.Completion, n int, err error) {
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the server closed the connection")
		}
		c.g.fail(fmt.Errorf("recv: %w", err))
		return
	}
	c.got += n
	if c.got < len(c.in) {
		ioloop.Recv(c.g.loop, op, c.fd, c.in[c.got:], c, (*lgConn).onRecv)
	} else if c.sendDone {
		c.roundTrip()
	}
}

func (c *lgConn) roundTrip() {
	g := c.g
	if !bytes.Equal(c.in, c.out) {
		g.fail(errors.New("the server echoed other bytes than it was sent"))
		return
	}
	if g.measuring {
		g.latency.Record(time.Since(g.epoch) - c.sentAt)
	}
	g.messages++
	switch {
	case g.cfg.Idle:
		g.finished++
	case !g.stopping:
		c.start()
	}
}

// runUntil runs the loop until done or the limit, in short slices.
func (g *loadgen) runUntil(limit time.Duration, what string, done func() bool) error {
	deadline := time.Now().Add(limit)
	for g.err == nil && !done() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not done after %v", what, limit)
		}
		if err := g.loop.RunFor(5 * time.Millisecond); err != nil {
			return err
		}
	}
	return g.err
}

// runFor runs the load for d.
func (g *loadgen) runFor(d time.Duration) error {
	if err := g.loop.RunFor(d); err != nil {
		return err
	}
	return g.err
}

// connectAll opens every connection, connectDepth at a time, and then
// starts the first message on each. It returns how long connecting took.
func (g *loadgen) connectAll() (time.Duration, error) {
	began := time.Now()
	for range min(connectDepth, len(g.conns)) {
		g.connectNext()
	}
	err := g.runUntil(time.Minute, "connecting", func() bool { return g.connected == len(g.conns) })
	took := time.Since(began)
	if err != nil {
		return took, err
	}
	for i := range g.conns {
		g.conns[i].start()
	}
	return took, nil
}

func (g *loadgen) close() {
	g.stopping = true
	_ = g.loop.Close() // cancels what is in flight before the sockets go
	for i := range g.conns {
		if g.conns[i].fd >= 0 {
			_ = unix.Close(g.conns[i].fd)
		}
	}
}

// LoadResult is what one measured run of the load generator reports.
type LoadResult struct {
	Messages          int64    `json:"messages"`
	WindowSeconds     float64  `json:"window_s"`
	MsgsPerSec        float64  `json:"msgs_per_sec"`
	P50us             float64  `json:"p50_us"`
	P99us             float64  `json:"p99_us"`
	ServerCPUusPerMsg float64  `json:"server_cpu_us_per_msg"`
	ServerUserPerMsg  float64  `json:"server_user_us_per_msg"` // the part of it in user space
	ServerCPUUtil     float64  `json:"server_cpu_util"`
	ClientCPUusPerMsg float64  `json:"client_cpu_us_per_msg"`
	ClientUserPerMsg  float64  `json:"client_user_us_per_msg"`
	ClientCPUUtil     float64  `json:"client_cpu_util"`
	SyscallsPerMsg    *float64 `json:"syscalls_per_msg"` // nil: not counted, see SyscallsNote
	SyscallsNote      string   `json:"syscalls_note,omitempty"`
	ServerRSSBytes    int64    `json:"server_rss_bytes"`
	ConnectSeconds    float64  `json:"connect_s"`
	ClientBackend     string   `json:"client_backend"`
}

// RunLoad connects, warms up, and measures: rate, latency and the
// server's CPU time and RSS over Window; then, if PerfWindow is set, the
// server's system calls over a second window (perf's tracepoint slows
// every system call, so it is not attached while CPU time is measured).
func RunLoad(cfg ClientConfig) (LoadResult, error) {
	g, err := newLoadgen(cfg)
	if err != nil {
		return LoadResult{}, err
	}
	defer g.close()
	res := LoadResult{ClientBackend: g.loop.Backend().String()}
	connectTime, err := g.connectAll()
	res.ConnectSeconds = connectTime.Seconds()
	if err != nil {
		return res, err
	}
	if err := g.runFor(cfg.Warmup); err != nil {
		return res, err
	}

	serverCPU0, err := sysx.CPUOf(cfg.ServerPID)
	if err != nil {
		return res, err
	}
	selfCPU0, began, before := sysx.SelfCPU(), time.Now(), g.messages
	g.latency.Reset()
	g.measuring = true
	if err := g.runFor(cfg.Window); err != nil {
		return res, err
	}
	g.measuring = false
	wall, selfCPU, messages := time.Since(began), sysx.SelfCPU().Sub(selfCPU0), g.messages-before
	serverCPU1, err := sysx.CPUOf(cfg.ServerPID)
	if err != nil {
		return res, err
	}
	if messages == 0 {
		return res, errors.New("no round trip completed in the measured window")
	}
	serverCPU := serverCPU1.Sub(serverCPU0)
	pct := g.latency.Percentiles(0.50, 0.99)
	res.Messages, res.WindowSeconds = messages, wall.Seconds()
	res.MsgsPerSec = float64(messages) / wall.Seconds()
	res.P50us, res.P99us = micros(pct[0]), micros(pct[1])
	res.ServerCPUusPerMsg = micros(serverCPU.Total()) / float64(messages)
	res.ServerUserPerMsg = micros(serverCPU.User) / float64(messages)
	res.ServerCPUUtil = serverCPU.Total().Seconds() / wall.Seconds()
	res.ClientCPUusPerMsg = micros(selfCPU.Total()) / float64(messages)
	res.ClientUserPerMsg = micros(selfCPU.User) / float64(messages)
	res.ClientCPUUtil = selfCPU.Total().Seconds() / wall.Seconds()
	if res.ServerRSSBytes, err = sysx.MemoryOf(cfg.ServerPID, "VmRSS"); err != nil {
		return res, err
	}

	if cfg.PerfWindow > 0 {
		calls, msgs, err := g.countServerSyscalls()
		if err != nil {
			res.SyscallsNote = "n/a (" + err.Error() + ")"
		} else {
			perMsg := float64(calls) / float64(msgs)
			res.SyscallsPerMsg = &perMsg
		}
	}
	return res, g.err
}

// countServerSyscalls runs the load for PerfWindow with perf counting the
// server's system calls, and returns the count and the round trips.
func (g *loadgen) countServerSyscalls() (calls, messages int64, err error) {
	counter, err := sysx.CountSyscalls(g.cfg.ServerPID)
	if err != nil {
		return 0, 0, err
	}
	if err := counter.Enable(); err != nil {
		_, _ = counter.Finish()
		return 0, 0, err
	}
	before := g.messages
	runErr := g.runFor(g.cfg.PerfWindow)
	messages = g.messages - before
	disableErr := counter.Disable()
	calls, finishErr := counter.Finish()
	if err := errors.Join(runErr, disableErr, finishErr); err != nil {
		return 0, 0, err
	}
	if messages == 0 {
		return 0, 0, errors.New("no round trip completed while perf counted")
	}
	return calls, messages, nil
}

// IdleResult is what the memory workload reports.
type IdleResult struct {
	Conns          int     `json:"conns"`
	BaselineBytes  int64   `json:"baseline_rss_bytes"`
	LoadedBytes    int64   `json:"loaded_rss_bytes"`
	BytesPerConn   float64 `json:"bytes_per_conn"`
	ConnectSeconds float64 `json:"connect_s"`
}

// RunIdle measures the server's RSS before any connection, and again after
// every connection has made one round trip and then idled for settle.
func RunIdle(cfg ClientConfig, settle time.Duration) (IdleResult, error) {
	res := IdleResult{Conns: cfg.Conns}
	var err error
	if res.BaselineBytes, err = sysx.MemoryOf(cfg.ServerPID, "VmRSS"); err != nil {
		return res, err
	}
	g, err := newLoadgen(cfg)
	if err != nil {
		return res, err
	}
	defer g.close()
	connectTime, err := g.connectAll()
	res.ConnectSeconds = connectTime.Seconds()
	if err != nil {
		return res, err
	}
	if err := g.runUntil(time.Minute, "one round trip per connection", func() bool { return g.finished == len(g.conns) }); err != nil {
		return res, err
	}
	time.Sleep(settle)
	if res.LoadedBytes, err = sysx.MemoryOf(cfg.ServerPID, "VmRSS"); err != nil {
		return res, err
	}
	res.BytesPerConn = float64(res.LoadedBytes-res.BaselineBytes) / float64(cfg.Conns)
	return res, nil
}

func micros(d time.Duration) float64 { return float64(d) / 1e3 }
