package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// loadClient is the closed-loop load generator that `bench echo` and
// `bench arch` share: every connection sends a request, waits until the
// whole reply has come back, and sends the next. Send and Recv of one
// round trip are submitted together (two Completions per connection), so
// a round trip costs one loop pass, not two. What a request holds and how
// a reply is checked is the protocol's (see loadProtocol).
type loadClient struct {
	loop     *ioloop.Loop
	addr     netip.AddrPort
	conns    []loadConn
	epoch    time.Time
	protocol loadProtocol

	connected int
	measuring bool  // count round trips and latencies (after the warm-up)
	stopping  bool  // finish the current round trip, start no new one
	messages  int64 // round trips completed while measuring
	latency   histogram
	err       error // first failure; stops the run
}

// loadProtocol is what a load generator's requests and replies mean. Its
// methods run on the client loop's goroutine and must not allocate: they
// run once per round trip.
type loadProtocol interface {
	// prepare writes conn's next request into conn.sendBuf.
	prepare(conn *loadConn)
	// check returns an error when conn.recvBuf does not answer the request
	// in conn.sendBuf.
	check(conn *loadConn) error
	// record is told of every round trip counted while measuring, with its
	// latency d.
	record(conn *loadConn, d time.Duration)
}

// loadConn is one connection of a loadClient.
type loadConn struct {
	cl      *loadClient
	index   int // in cl.conns
	fd      int
	send    ioloop.Completion
	recv    ioloop.Completion
	sendBuf []byte        // the request: a fixed size
	recvBuf []byte        // the reply: a fixed size
	got     int           // bytes of the current reply received so far
	sent    bool          // the current request's Send has completed
	started time.Duration // when the current request was sent, since epoch
}

// initLoadClient sets cl up for conns connections sending requests of
// sendSize bytes and expecting replies of recvSize, all buffers cut from
// one allocation.
func initLoadClient(cl *loadClient, loop *ioloop.Loop, addr netip.AddrPort, conns, sendSize, recvSize int, protocol loadProtocol) {
	*cl = loadClient{loop: loop, addr: addr, conns: make([]loadConn, conns), epoch: time.Now(), protocol: protocol}
	per := sendSize + recvSize
	bufs := make([]byte, conns*per)
	for i := range cl.conns {
		b := bufs[i*per : (i+1)*per : (i+1)*per]
		cl.conns[i] = loadConn{cl: cl, index: i, fd: -1, sendBuf: b[:sendSize:sendSize], recvBuf: b[sendSize:]}
	}
}

func (cl *loadClient) setErr(err error) {
	if cl.err == nil {
		cl.err = err
	}
}

// connectAll opens every socket and submits every Connect at once.
func (cl *loadClient) connectAll() error {
	for i := range cl.conns {
		conn := &cl.conns[i]
		fd, err := ioloop.TCPSocket(cl.addr)
		if err != nil {
			return fmt.Errorf("socket for connection %d: %w", i, err)
		}
		conn.fd = fd
		ioloop.Connect(cl.loop, &conn.send, fd, cl.addr, conn, (*loadConn).onConnect)
	}
	return nil
}

func (conn *loadConn) onConnect(_ *ioloop.Completion, err error) {
	if err != nil {
		conn.cl.setErr(fmt.Errorf("connect to %s: %w", conn.cl.addr, err))
		return
	}
	conn.cl.connected++
}

// connect connects every connection, failing unless all are established
// within timeout.
func (cl *loadClient) connect(timeout time.Duration) error {
	if err := cl.connectAll(); err != nil {
		return err
	}
	allConnected := func() bool { return cl.connected == len(cl.conns) }
	if err := cl.runUntil(timeout, allConnected); err != nil {
		return err
	}
	if !allConnected() {
		return fmt.Errorf("only %d of %d connections were established within %v", cl.connected, len(cl.conns), timeout)
	}
	return nil
}

// startAll sends every connection's first request.
func (cl *loadClient) startAll() {
	for i := range cl.conns {
		cl.conns[i].startMessage()
	}
}

func (conn *loadConn) startMessage() {
	cl := conn.cl
	cl.protocol.prepare(conn)
	conn.got, conn.sent = 0, false
	conn.started = time.Since(cl.epoch)
	ioloop.Send(cl.loop, &conn.send, conn.fd, conn.sendBuf, conn, (*loadConn).onSend)
	ioloop.Recv(cl.loop, &conn.recv, conn.fd, conn.recvBuf, conn, (*loadConn).onRecv)
}

func (conn *loadConn) onSend(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		conn.fault("send", err)
		return
	}
	conn.sent = true
	if conn.got == len(conn.recvBuf) {
		conn.finishMessage()
	}
}

func (conn *loadConn) onRecv(c *ioloop.Completion, n int, err error) {
	if err != nil {
		conn.fault("recv", err)
		return
	}
	conn.got += n
	if conn.got < len(conn.recvBuf) {
		ioloop.Recv(conn.cl.loop, c, conn.fd, conn.recvBuf[conn.got:], conn, (*loadConn).onRecv)
		return
	}
	if conn.sent {
		conn.finishMessage()
	}
}

func (conn *loadConn) finishMessage() {
	cl := conn.cl
	if err := cl.protocol.check(conn); err != nil {
		cl.setErr(err)
		return
	}
	if cl.measuring {
		d := time.Since(cl.epoch) - conn.started
		cl.latency.record(d)
		cl.protocol.record(conn, d)
		cl.messages++
	}
	if !cl.stopping && cl.err == nil {
		conn.startMessage()
	}
}

// fault records a failed operation, unless it is the cancellation that
// Loop.Close delivers at the end of the run.
func (conn *loadConn) fault(op string, err error) {
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
// done (if not nil) reports true.
func (cl *loadClient) runUntil(d time.Duration, done func() bool) error {
	deadline := time.Now().Add(d)
	for cl.err == nil && (done == nil || !done()) {
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

// probe measures something outside this process over a measured window,
// alongside the client's own meter: begin runs right before the window,
// end right after it.
type probe struct{ begin, end func() error }

// measure runs the load for d, with p (if not nil) around it, and returns
// the round trips completed over the interval it measured.
func (cl *loadClient) measure(d time.Duration, p *probe) (int64, interval, error) {
	if p != nil {
		if err := p.begin(); err != nil {
			return 0, interval{}, err
		}
	}
	m, err := startMeter()
	if err != nil {
		return 0, interval{}, err
	}
	before := cl.messages
	cl.measuring = true
	if err := cl.runUntil(d, nil); err != nil {
		return 0, interval{}, err
	}
	cl.measuring = false
	iv, err := m.stop()
	if err != nil {
		return 0, interval{}, err
	}
	if p != nil {
		if err := p.end(); err != nil {
			return 0, interval{}, err
		}
	}
	return cl.messages - before, iv, nil
}

// closeAll closes the client's sockets; the loop must have closed first,
// which cancels the Recvs still waiting on them.
func (cl *loadClient) closeAll() {
	for i := range cl.conns {
		if cl.conns[i].fd >= 0 {
			_ = unix.Close(cl.conns[i].fd)
			cl.conns[i].fd = -1
		}
	}
}
