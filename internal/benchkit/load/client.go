//go:build !windows

// Package load is the load generator of ioloop's benchmarks, the one that
// `ioloop bench echo`, `ioloop bench arch` and the bench/ suite's echo and
// memory workloads all drive their servers with: a closed loop on one
// ioloop.Loop in which every connection sends a request, waits until the
// whole reply has come back, checks it, and sends the next. Send and Recv
// of one round trip are submitted together (two Completions per
// connection), so a round trip costs one loop pass, not two. What a
// request holds and how a reply is checked is the Protocol's; Echo is the
// echo protocol, and RunEcho the echo measurement with the server's CPU
// time and system calls alongside (see ServerMeter).
//
// Latencies go into a Histogram: fixed buckets, no allocation per round
// trip, whatever the run's length.
package load

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
	"golang.org/x/sys/unix"
)

// Protocol is what a load generator's requests and replies mean. Its
// methods run on the client loop's goroutine and must not allocate: they
// run once per round trip.
type Protocol interface {
	// Prepare writes conn's next request into conn.SendBuf.
	Prepare(conn *Conn)
	// Check returns an error when conn.RecvBuf does not answer the request
	// in conn.SendBuf.
	Check(conn *Conn) error
	// Record is told of every round trip completed while measuring, with
	// its latency d.
	Record(conn *Conn, d time.Duration)
}

// Client is the load generator. Only the goroutine that runs its loop
// may use it.
type Client struct {
	loop     *ioloop.Loop
	addr     netip.AddrPort
	conns    []Conn
	epoch    time.Time
	protocol Protocol

	nextConnect int // the next connection Connect opens
	connected   int
	oneEach     bool // every connection makes one round trip and then idles (StartOneEach)
	finished    int  // connections that made their one round trip
	measuring   bool // record latencies (inside Measure)
	stopping    bool // finish the current round trip, start no new one
	messages    int64
	latency     Histogram // round trips completed while measuring
	err         error     // first failure; stops the run
}

// Conn is one connection of a Client.
type Conn struct {
	client  *Client
	Index   int // in the client's connections
	fd      int
	send    ioloop.Completion
	recv    ioloop.Completion
	SendBuf []byte        // the request: a fixed size
	RecvBuf []byte        // the reply: a fixed size
	got     int           // bytes of the current reply received so far
	sent    bool          // the current request's Send has completed
	started time.Duration // when the current request was sent, since epoch
}

// NewClient returns a client of conns connections to addr on loop,
// sending requests of sendSize bytes and expecting replies of recvSize,
// all buffers cut from one allocation.
func NewClient(loop *ioloop.Loop, addr netip.AddrPort, conns, sendSize, recvSize int, protocol Protocol) *Client {
	cl := &Client{loop: loop, addr: addr, conns: make([]Conn, conns), epoch: time.Now(), protocol: protocol}
	per := sendSize + recvSize
	bufs := make([]byte, conns*per)
	for i := range cl.conns {
		b := bufs[i*per : (i+1)*per : (i+1)*per]
		cl.conns[i] = Conn{client: cl, Index: i, fd: -1, SendBuf: b[:sendSize:sendSize], RecvBuf: b[sendSize:]}
	}
	return cl
}

// Loop is the client's loop.
func (cl *Client) Loop() *ioloop.Loop { return cl.loop }

// Conn returns connection i.
func (cl *Client) Conn(i int) *Conn { return &cl.conns[i] }

// Len is the number of connections.
func (cl *Client) Len() int { return len(cl.conns) }

// Connected is the number of connections established so far.
func (cl *Client) Connected() int { return cl.connected }

// Messages is the number of round trips completed so far.
func (cl *Client) Messages() int64 { return cl.messages }

// Latency holds the latencies of the round trips completed while
// measuring.
func (cl *Client) Latency() *Histogram { return &cl.latency }

// Err is the first failure, which stops the run.
func (cl *Client) Err() error { return cl.err }

func (cl *Client) setErr(err error) {
	if cl.err == nil {
		cl.err = err
	}
}

// connectDepth bounds the connects in flight: the listen backlog
// (SOMAXCONN, 4096) overflows with 10,000 at once, and a dropped SYN is
// retried only after a second.
const connectDepth = 256

// connectNext opens the next connection's socket and submits its Connect.
func (cl *Client) connectNext() {
	if cl.nextConnect == len(cl.conns) {
		return
	}
	i := cl.nextConnect
	cl.nextConnect++
	conn := &cl.conns[i]
	fd, err := ioloop.TCPSocket(cl.addr)
	if err != nil {
		cl.setErr(fmt.Errorf("socket for connection %d: %w", i, err))
		return
	}
	conn.fd = fd
	ioloop.Connect(cl.loop, &conn.send, fd, cl.addr, conn, (*Conn).onConnect)
}

func (conn *Conn) onConnect(_ *ioloop.Completion, err error) {
	cl := conn.client
	if err != nil {
		cl.setErr(fmt.Errorf("connect to %s: %w", cl.addr, err))
		return
	}
	cl.connected++
	cl.connectNext()
}

// Connect connects every connection, connectDepth at a time, failing
// unless all are established within timeout.
func (cl *Client) Connect(timeout time.Duration) error {
	for range min(connectDepth, len(cl.conns)) {
		cl.connectNext()
	}
	allConnected := func() bool { return cl.connected == len(cl.conns) }
	if err := cl.RunUntil(timeout, allConnected); err != nil {
		return err
	}
	if !allConnected() {
		return fmt.Errorf("only %d of %d connections were established within %v", cl.connected, len(cl.conns), timeout)
	}
	return nil
}

// StartAll sends every connection's first request; each sends the next
// when the reply has come back, until Stop.
func (cl *Client) StartAll() {
	for i := range cl.conns {
		cl.conns[i].startMessage()
	}
}

// StartOneEach makes every connection one round trip, after which it
// stays idle: for measuring the server's memory per idle connection.
// Finished counts the connections done.
func (cl *Client) StartOneEach() {
	cl.oneEach = true
	cl.StartAll()
}

// Finished is the number of connections that made their one round trip
// (see StartOneEach).
func (cl *Client) Finished() int { return cl.finished }

// Stop lets every connection finish its current round trip and start no
// other: then Loop.Close's cancellations are not failures.
func (cl *Client) Stop() { cl.stopping = true }

func (conn *Conn) startMessage() {
	cl := conn.client
	cl.protocol.Prepare(conn)
	conn.got, conn.sent = 0, false
	conn.started = time.Since(cl.epoch)
	ioloop.Send(cl.loop, &conn.send, conn.fd, conn.SendBuf, conn, (*Conn).onSend)
	ioloop.Recv(cl.loop, &conn.recv, conn.fd, conn.RecvBuf, conn, (*Conn).onRecv)
}

func (conn *Conn) onSend(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		conn.fault("send", err)
		return
	}
	conn.sent = true
	if conn.got == len(conn.RecvBuf) {
		conn.finishMessage()
	}
}

func (conn *Conn) onRecv(c *ioloop.Completion, n int, err error) {
	if err != nil {
		conn.fault("recv", err)
		return
	}
	conn.got += n
	if conn.got < len(conn.RecvBuf) {
		ioloop.Recv(conn.client.loop, c, conn.fd, conn.RecvBuf[conn.got:], conn, (*Conn).onRecv)
		return
	}
	if conn.sent {
		conn.finishMessage()
	}
}

func (conn *Conn) finishMessage() {
	cl := conn.client
	if err := cl.protocol.Check(conn); err != nil {
		cl.setErr(err)
		return
	}
	cl.messages++
	if cl.measuring {
		d := time.Since(cl.epoch) - conn.started
		cl.latency.Record(d)
		cl.protocol.Record(conn, d)
	}
	switch {
	case cl.oneEach:
		cl.finished++
	case !cl.stopping && cl.err == nil:
		conn.startMessage()
	}
}

// fault records a failed operation, unless it is the cancellation that
// Loop.Close delivers at the end of the run.
func (conn *Conn) fault(op string, err error) {
	cl := conn.client
	if cl.stopping && errors.Is(err, ioloop.ErrCanceled) {
		return
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the server closed the connection")
	}
	cl.setErr(fmt.Errorf("%s: %w", op, err))
}

// checkInterval is how often the client looks up from the loop to check
// its stop conditions: RunFor cannot be told to return early.
const checkInterval = 100 * time.Millisecond

// RunUntil runs the loop for up to d, returning early on failure or when
// done (if not nil) reports true. Running out of time is not an error.
func (cl *Client) RunUntil(d time.Duration, done func() bool) error {
	deadline := time.Now().Add(d)
	for cl.err == nil && (done == nil || !done()) {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		if err := cl.loop.RunFor(min(left, checkInterval)); err != nil {
			return err
		}
	}
	return cl.err
}

// Probe measures something outside the client over a measured window,
// alongside the client's own meter: Begin runs right before the window,
// End right after it.
type Probe struct{ Begin, End func() error }

// Measure runs the load for d, recording latencies, with p (if not nil)
// around it, and returns the round trips completed over the interval it
// measured.
func (cl *Client) Measure(d time.Duration, p *Probe) (int64, proc.Interval, error) {
	if p != nil {
		if err := p.Begin(); err != nil {
			return 0, proc.Interval{}, err
		}
	}
	m := proc.StartMeter()
	before := cl.messages
	cl.measuring = true
	err := cl.RunUntil(d, nil)
	cl.measuring = false
	iv := m.Stop()
	if err != nil {
		return 0, proc.Interval{}, err
	}
	if p != nil {
		if err := p.End(); err != nil {
			return 0, proc.Interval{}, err
		}
	}
	return cl.messages - before, iv, nil
}

// Close closes the loop, which cancels the Recvs still waiting, and then
// the sockets, which only then no operation uses any more.
func (cl *Client) Close() error {
	cl.stopping = true
	err := cl.loop.Close()
	for i := range cl.conns {
		if cl.conns[i].fd >= 0 {
			_ = unix.Close(cl.conns[i].fd)
			cl.conns[i].fd = -1
		}
	}
	return err
}
