package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/uring"
	"golang.org/x/sys/unix"
)

// echoClient is a closed-loop ping-pong load generator: every connection
// sends size bytes, waits until all of them have come back, and repeats.
// Send and Recv of one message are submitted together (two Completions per
// connection), so a round trip costs one loop pass, not two.
type echoClient struct {
	loop  *ioloop.Loop
	addr  netip.AddrPort
	size  int
	conns []clientConn
	epoch time.Time

	connected int
	measuring bool // count messages and latencies (after the warm-up)
	stopping  bool // finish the current message, start no new one
	messages  int64
	latency   histogram
	err       error // first failure; stops the run
}

type clientConn struct {
	cl      *echoClient
	fd      int
	send    ioloop.Completion
	recv    ioloop.Completion
	sendBuf []byte
	recvBuf []byte
	got     int           // bytes of the current reply received so far
	sent    bool          // the current message's Send has completed
	started time.Duration // when the current message was sent, since epoch
}

func newEchoClient(loop *ioloop.Loop, addr netip.AddrPort, conns, size int) *echoClient {
	cl := &echoClient{loop: loop, addr: addr, size: size, conns: make([]clientConn, conns), epoch: time.Now()}
	// One allocation for all buffers. Each connection sends a pattern of its
	// own, so a reply delivered to the wrong connection is caught.
	bufs := make([]byte, 2*conns*size)
	for i := range cl.conns {
		conn := &cl.conns[i]
		conn.cl = cl
		conn.fd = -1
		conn.sendBuf = bufs[2*i*size : (2*i+1)*size : (2*i+1)*size]
		conn.recvBuf = bufs[(2*i+1)*size : (2*i+2)*size : (2*i+2)*size]
		for j := range conn.sendBuf {
			conn.sendBuf[j] = byte(i*31 + j)
		}
	}
	return cl
}

func (cl *echoClient) setErr(err error) {
	if cl.err == nil {
		cl.err = err
	}
}

// connectAll opens every socket and submits every Connect at once.
func (cl *echoClient) connectAll() error {
	for i := range cl.conns {
		conn := &cl.conns[i]
		fd, err := ioloop.TCPSocket(cl.addr)
		if err != nil {
			return fmt.Errorf("socket for connection %d: %w", i, err)
		}
		conn.fd = fd
		ioloop.Connect(cl.loop, &conn.send, fd, cl.addr, conn, (*clientConn).onConnect)
	}
	return nil
}

func (conn *clientConn) onConnect(_ *ioloop.Completion, err error) {
	if err != nil {
		conn.cl.setErr(fmt.Errorf("connect to %s: %w", conn.cl.addr, err))
		return
	}
	conn.cl.connected++
}

func (cl *echoClient) startAll() {
	for i := range cl.conns {
		cl.conns[i].startMessage()
	}
}

func (conn *clientConn) startMessage() {
	cl := conn.cl
	conn.got, conn.sent = 0, false
	conn.started = time.Since(cl.epoch)
	ioloop.Send(cl.loop, &conn.send, conn.fd, conn.sendBuf, conn, (*clientConn).onSend)
	ioloop.Recv(cl.loop, &conn.recv, conn.fd, conn.recvBuf, conn, (*clientConn).onRecv)
}

func (conn *clientConn) onSend(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		conn.fault("send", err)
		return
	}
	conn.sent = true
	if conn.got == len(conn.recvBuf) {
		conn.finishMessage()
	}
}

func (conn *clientConn) onRecv(c *ioloop.Completion, n int, err error) {
	if err != nil {
		conn.fault("recv", err)
		return
	}
	conn.got += n
	if conn.got < len(conn.recvBuf) {
		ioloop.Recv(conn.cl.loop, c, conn.fd, conn.recvBuf[conn.got:], conn, (*clientConn).onRecv)
		return
	}
	if conn.sent {
		conn.finishMessage()
	}
}

func (conn *clientConn) finishMessage() {
	cl := conn.cl
	if !bytes.Equal(conn.recvBuf, conn.sendBuf) {
		cl.setErr(errors.New("the server echoed different bytes than were sent"))
		return
	}
	if cl.measuring {
		cl.latency.record(time.Since(cl.epoch) - conn.started)
		cl.messages++
	}
	if !cl.stopping && cl.err == nil {
		conn.startMessage()
	}
}

// fault records a failed operation, unless it is the cancellation that
// Loop.Close delivers at the end of the run.
func (conn *clientConn) fault(op string, err error) {
	if conn.cl.stopping && errors.Is(err, ioloop.ErrCanceled) {
		return
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the server closed the connection")
	}
	conn.cl.setErr(fmt.Errorf("%s: %w", op, err))
}

// clientCheckInterval is how often the client looks up from the loop to
// check its stop conditions: RunFor cannot be told to return early.
const clientCheckInterval = 100 * time.Millisecond

// runUntil runs the loop for up to d, returning early on failure or when
// done reports true.
func (cl *echoClient) runUntil(d time.Duration, done func() bool) error {
	deadline := time.Now().Add(d)
	for cl.err == nil && !done() {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		if err := cl.loop.RunFor(min(left, clientCheckInterval)); err != nil {
			return err
		}
	}
	return cl.err
}

func (cl *echoClient) closeAll() {
	for i := range cl.conns {
		if cl.conns[i].fd >= 0 {
			_ = unix.Close(cl.conns[i].fd)
			cl.conns[i].fd = -1
		}
	}
}

func runBenchEcho(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ioloop bench echo",
		"ioloop bench echo [-addr 127.0.0.1:9000] [-conns 1000] [-size 64] [-duration 5s] [-warmup 1s] [-json]", stderr)
	addrText := fs.String("addr", "127.0.0.1:9000", "echo server address, IP:port")
	conns := fs.Int("conns", 1000, "connections, each with one message in flight")
	size := fs.Int("size", 64, "message size in bytes")
	duration := fs.Duration("duration", 5*time.Second, "how long to measure")
	warmup := fs.Duration("warmup", time.Second, "how long to run before measuring")
	connectTimeout := fs.Duration("connect-timeout", 30*time.Second, "how long connecting all connections may take")
	entries := fs.Uint("entries", 0, "submission queue size (0: library default)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	addr, err := netip.ParseAddrPort(*addrText)
	switch {
	case err != nil:
		return usageError(fs, "-addr must be IP:port, such as 127.0.0.1:9000: %v", err)
	case *conns < 1 || *conns > 1<<20:
		return usageError(fs, "-conns must be in 1..1048576, got %d", *conns)
	case *size < 1 || *size > 1<<24:
		return usageError(fs, "-size must be in 1..16777216, got %d", *size)
	case *duration <= 0:
		return usageError(fs, "-duration must be positive, got %v", *duration)
	case *warmup < 0:
		return usageError(fs, "-warmup must not be negative, got %v", *warmup)
	case *connectTimeout <= 0:
		return usageError(fs, "-connect-timeout must be positive, got %v", *connectTimeout)
	case *entries > uring.MaxEntries:
		return usageError(fs, "-entries must be at most %d, got %d", uring.MaxEntries, *entries)
	}
	// One descriptor per connection, plus the ring and the usual few.
	if err := raiseNoFile(uint64(*conns) + 64); err != nil {
		return fail(stderr, fs.Name(), err)
	}

	loop, err := ioloop.New(ioloop.Options{Entries: uint32(*entries)})
	if err != nil {
		return fail(stderr, fs.Name(), err)
	}
	cl := newEchoClient(loop, addr, *conns, *size)
	result, runErr := cl.run(*connectTimeout, *warmup, *duration, stderr)
	// Close cancels the Recvs still waiting; only then may the sockets go.
	closeErr := loop.Close()
	cl.closeAll()
	for _, err := range []error{runErr, closeErr} {
		if err != nil {
			return fail(stderr, fs.Name(), err)
		}
	}
	if err := result.write(stdout, *asJSON); err != nil {
		return fail(stderr, fs.Name(), err)
	}
	return exitOK
}

// run connects, warms up, measures, and stops every connection after its
// current message. Progress lines start with '#', on stderr, so that a
// script can start a profiler once "# measuring" appears.
func (cl *echoClient) run(connectTimeout, warmup, duration time.Duration, stderr io.Writer) (*report, error) {
	began := time.Now()
	if err := cl.connectAll(); err != nil {
		return nil, err
	}
	allConnected := func() bool { return cl.connected == len(cl.conns) }
	if err := cl.runUntil(connectTimeout, allConnected); err != nil {
		return nil, err
	}
	if !allConnected() {
		return nil, fmt.Errorf("only %d of %d connections were established within %v", cl.connected, len(cl.conns), connectTimeout)
	}
	fmt.Fprintf(stderr, "# connected %d connections in %v; warming up for %v\n", len(cl.conns), time.Since(began).Round(time.Millisecond), warmup)
	cl.startAll()
	never := func() bool { return false }
	if err := cl.runUntil(warmup, never); err != nil {
		return nil, err
	}

	fmt.Fprintf(stderr, "# measuring for %v\n", duration)
	m, err := startMeter()
	if err != nil {
		return nil, err
	}
	cl.measuring = true
	if err := cl.runUntil(duration, never); err != nil {
		return nil, err
	}
	cl.measuring, cl.stopping = false, true
	iv, err := m.stop()
	if err != nil {
		return nil, err
	}
	if cl.messages == 0 {
		return nil, errors.New("no message completed a round trip while measuring")
	}
	return newReport("echo_client").
		int("conns", int64(len(cl.conns))).
		int("size", int64(cl.size)).
		float("msgs_per_sec", iv.perSecond(cl.messages), 0).
		float("p50_us", float64(cl.latency.quantile(0.50))/1e3, 1).
		float("p99_us", float64(cl.latency.quantile(0.99))/1e3, 1).
		float("client_cpu_us_per_msg", iv.cpuMicrosPer(cl.messages), 3), nil
}

// raiseNoFile makes sure RLIMIT_NOFILE allows at least want descriptors:
// within the hard limit it raises the soft one; beyond it, it tries to
// raise the hard limit too, which needs CAP_SYS_RESOURCE.
func raiseNoFile(want uint64) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	if lim.Cur >= want {
		return nil
	}
	raised := unix.Rlimit{Cur: want, Max: max(lim.Max, want)}
	err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised)
	if err == nil {
		return nil
	}
	return fmt.Errorf("need %d file descriptors but RLIMIT_NOFILE is %d (hard limit %d) and raising it failed: %w",
		want, lim.Cur, lim.Max, err)
}
