package netconn

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ioloop/ioloop"
)

// A Conn is a TCP connection whose I/O runs on a Network's loop. It
// implements net.Conn: Read, Write, Close, the deadlines and the addresses
// may be called from any goroutines at once. Concurrent Reads are served
// one after another, as are concurrent Writes; a Read and a Write run at
// the same time.
type Conn struct {
	nw           *Network
	fd           int
	laddr, raddr *net.TCPAddr
	// dialTo is the address Dial connects to (read by startConnect).
	dialTo netip.AddrPort

	rd, wr direction

	// closed is set by the first Close; closedCh is closed once the
	// descriptor is (by the loop, or by the Network's teardown).
	closed   atomic.Bool
	closedCh chan struct{}
	closeErr error

	// ctlMu serializes CloseWrite; ctlDone carries its result.
	ctlMu   sync.Mutex
	ctlDone chan struct{}
	ctlErr  error

	// Loop-side state, touched only on the loop's goroutine.
	closeOp    ioloop.Completion
	closing    bool // Close began: no new operation starts
	fdClosing  bool // the Close operation is submitted
	chClosed   bool // closedCh is closed
	registered bool // in nw.conns
}

// direction is one half of a Conn, its reads or its writes: the request a
// blocked caller hands the loop, the operation in flight, and the deadline.
//
// Hand-over: the caller fills buf, sets waiting and posts start; the loop
// submits the operation, and its callback stores n and err and sends on
// done, which the caller receives. Post and the channel order the two
// goroutines' accesses, so buf, n and err need no lock.
//
// Deadlines are kept as nanoseconds on the package's monotonic clock
// (monoNs) in an atomic, set by any goroutine. A change while a request
// is with the loop posts onDeadline (at most one queued at a time), which
// re-evaluates the timer: a deadline already past cancels the operation
// (ioloop.Cancel), a future one arms the direction's Timeout, and an armed
// Timeout later than the new deadline is canceled and re-armed. A Timeout
// is never canceled merely because the operation completed: it fires,
// finds nothing to do or re-arms for the current deadline, so repeated
// Reads under one deadline arm it once.
type direction struct {
	c     *Conn
	write bool

	mu   sync.Mutex    // serializes this direction's callers
	done chan struct{} // one value per finished request

	deadlineNs     atomic.Int64 // 0: none
	waiting        atomic.Bool  // a request is with the loop
	deadlineQueued atomic.Bool  // an onDeadline is posted and has not run

	buf []byte
	n   int
	err error

	// Loop-side state.
	op, timer, cancelOp, cancelTimer ioloop.Completion

	busy           bool  // op is in flight
	canceling      bool  // cancelOp is in flight
	timedOut       bool  // the deadline passed while op was in flight
	timerArmed     bool  // timer is in flight
	timerAtNs      int64 // the deadline timer was armed for
	timerCanceling bool  // cancelTimer is in flight
}

// newConn makes a Conn for the connected socket fd. It runs on the loop's
// goroutine, which registers it, or on the caller's before the first post.
func newConn(nw *Network, fd int) *Conn {
	c := &Conn{nw: nw, fd: fd, closedCh: make(chan struct{}), ctlDone: make(chan struct{}, 1)}
	c.rd = direction{c: c, done: make(chan struct{}, 1)}
	c.wr = direction{c: c, write: true, done: make(chan struct{}, 1)}
	return c
}

// register adds c to the Network's open connections (on the loop's
// goroutine), so that closing the Network closes its descriptor.
func (c *Conn) register() {
	c.registered = true
	c.nw.conns[c] = struct{}{}
}

// loadAddrs reads the socket's addresses once, when the Conn is handed to
// its user.
func (c *Conn) loadAddrs() {
	if a, err := ioloop.LocalAddr(c.fd); err == nil {
		c.laddr = tcpAddr(a)
	}
	if a, err := ioloop.RemoteAddr(c.fd); err == nil {
		c.raddr = tcpAddr(a)
	}
}

// Read reads up to len(b) bytes, blocking until at least one arrives, the
// peer closes (io.EOF), the read deadline passes (an error matching
// os.ErrDeadlineExceeded, whose Timeout method reports true) or the Conn
// is closed (net.ErrClosed). Errors other than io.EOF are *net.OpError.
// It does not allocate.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.rd.do(b)
	if err != nil && err != io.EOF {
		return n, c.opError("read", err)
	}
	return n, err
}

// Write writes all of b, or returns the bytes written before an error
// stopped it: the write deadline (os.ErrDeadlineExceeded), Close
// (net.ErrClosed), or the peer (syscall.EPIPE, ECONNRESET). Errors are
// *net.OpError. It does not allocate.
func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.wr.do(b)
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// do hands one request to the loop and waits for its result.
func (d *direction) do(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c.closed.Load() {
		return 0, net.ErrClosed
	}
	if dl := d.deadlineNs.Load(); dl != 0 && dl <= nowNs() {
		return 0, os.ErrDeadlineExceeded
	}
	if len(b) == 0 {
		return 0, nil
	}
	d.buf = b
	d.waiting.Store(true)
	if err := post(d.c.nw, d, (*direction).start); err != nil {
		d.waiting.Store(false)
		d.buf = nil
		return 0, net.ErrClosed
	}
	<-d.done
	d.waiting.Store(false)
	n, err := d.n, d.err
	d.buf, d.err = nil, nil
	return n, err
}

// start runs on the loop: it submits the request's operation, or ends it
// at once when the Conn is closing or the deadline has passed.
func (d *direction) start() {
	if d.c.closing {
		d.finish(0, net.ErrClosed)
		return
	}
	if dl := d.deadlineNs.Load(); dl != 0 && dl <= nowNs() {
		d.finish(0, os.ErrDeadlineExceeded)
		return
	}
	d.busy, d.timedOut = true, false
	if d.write {
		ioloop.Send(d.c.nw.loop, &d.op, d.c.fd, d.buf, d, (*direction).onDone)
	} else {
		ioloop.Recv(d.c.nw.loop, &d.op, d.c.fd, d.buf, d, (*direction).onDone)
	}
	d.syncTimer()
}

// onDone is the operation's callback: it translates the result and wakes
// the caller.
func (d *direction) onDone(_ *ioloop.Completion, n int, err error) {
	d.busy = false
	if err != nil && err != io.EOF {
		switch {
		case errors.Is(err, ioloop.ErrCanceled) || err == ioloop.ErrClosed:
			// Canceled by the deadline, by Close, or by the Network
			// closing its loop.
			if d.timedOut && !d.c.closing {
				err = os.ErrDeadlineExceeded
			} else {
				err = net.ErrClosed
			}
		default:
			if isErrno(err) {
				op := "recvfrom"
				if d.write {
					op = "sendto"
				}
				err = os.NewSyscallError(op, err)
			}
		}
	}
	if err == io.EOF && d.write {
		err = io.ErrUnexpectedEOF // cannot happen: Send never reports EOF
	}
	d.finish(n, err)
	d.c.maybeCloseFD()
}

// finish hands the result to the waiting caller. buf is the caller's again
// from here on: the loop no longer refers to it.
func (d *direction) finish(n int, err error) {
	d.n, d.err = n, err
	d.done <- struct{}{}
	d.c.nw.wakeCaller()
}

// syncTimer makes the direction's timer agree with its deadline while an
// operation is in flight (see direction).
func (d *direction) syncTimer() {
	if !d.busy || d.c.closing || d.c.nw.loopClosing {
		return
	}
	dl := d.deadlineNs.Load()
	if dl == 0 {
		return // an armed timer fires later and finds no deadline due
	}
	now := nowNs()
	if dl <= now {
		d.timedOut = true
		d.cancel()
		return
	}
	if d.timerArmed {
		if d.timerAtNs > dl && !d.timerCanceling {
			d.stopTimer() // too late for the new deadline: onTimer re-arms
		}
		return
	}
	d.timerArmed, d.timerAtNs = true, dl
	ioloop.Timeout(d.c.nw.loop, &d.timer, time.Duration(dl-now), d, (*direction).onTimer)
}

// onTimer runs when the timer fires or is canceled.
func (d *direction) onTimer(_ *ioloop.Completion, _ error) {
	d.timerArmed = false
	d.syncTimer()
	d.c.maybeCloseFD()
}

// cancel cancels the operation in flight, once.
func (d *direction) cancel() {
	if !d.busy || d.canceling {
		return
	}
	d.canceling = true
	ioloop.Cancel(d.c.nw.loop, &d.cancelOp, &d.op, d, (*direction).onCanceled)
}

// onCanceled is the cancel's callback. Whatever it reports (nil,
// ErrNotFound when the operation finished first), the operation's own
// callback delivers the result. While it was in flight, cancel() declined
// to cancel again, and the Cancel may have aimed at an earlier operation
// of the direction (a Dial's Connect, say) than the one in flight now: so
// the reasons to cancel are checked again.
func (d *direction) onCanceled(_ *ioloop.Completion, _ error) {
	d.canceling = false
	if d.c.closing {
		d.cancel()
	} else {
		d.syncTimer()
	}
	d.c.maybeCloseFD()
}

// stopTimer cancels the armed timer, once.
func (d *direction) stopTimer() {
	if !d.timerArmed || d.timerCanceling {
		return
	}
	d.timerCanceling = true
	ioloop.Cancel(d.c.nw.loop, &d.cancelTimer, &d.timer, d, (*direction).onTimerStopped)
}

// onTimerStopped is the timer cancel's callback. As in onCanceled, a timer
// armed again while it was in flight may need stopping too.
func (d *direction) onTimerStopped(_ *ioloop.Completion, _ error) {
	d.timerCanceling = false
	if d.c.closing {
		d.stopTimer()
	} else {
		d.syncTimer()
	}
	d.c.maybeCloseFD()
}

// idle reports whether none of the direction's Completions is in flight.
func (d *direction) idle() bool {
	return !d.busy && !d.canceling && !d.timerArmed && !d.timerCanceling
}

// setDeadline stores a new deadline and, if a request is with the loop,
// has the loop re-evaluate it.
func (d *direction) setDeadline(t time.Time) {
	d.deadlineNs.Store(monoNs(t))
	// If waiting reads false, the request's start has not loaded the
	// deadline yet (both are sequentially consistent atomics) and will
	// see the new one.
	if d.waiting.Load() && d.deadlineQueued.CompareAndSwap(false, true) {
		if post(d.c.nw, d, (*direction).onDeadline) != nil {
			d.deadlineQueued.Store(false) // closing: the request ends anyway
		}
	}
}

// onDeadline runs on the loop after a deadline changed.
func (d *direction) onDeadline() {
	d.deadlineQueued.Store(false) // before loading the deadline: a later change posts again
	d.syncTimer()
}

// SetDeadline sets the read and write deadlines: pending and future Reads
// and Writes fail with an error matching os.ErrDeadlineExceeded once t
// has passed, also when t is already past. The zero time means none.
// Setting a later deadline after a timeout makes the Conn usable again.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.rd.setDeadline(t)
	c.wr.setDeadline(t)
	return nil
}

// SetReadDeadline sets the deadline of pending and future Reads (see
// SetDeadline).
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.rd.setDeadline(t)
	return nil
}

// SetWriteDeadline sets the deadline of pending and future Writes (see
// SetDeadline). A Write that times out may have written part of its
// buffer; the count says how much.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", net.ErrClosed)
	}
	c.wr.setDeadline(t)
	return nil
}

// LocalAddr returns the local address, a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return addrOrNil(c.laddr) }

// RemoteAddr returns the peer's address, a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return addrOrNil(c.raddr) }

// addrOrNil keeps a nil *net.TCPAddr from becoming a non-nil net.Addr.
func addrOrNil(a *net.TCPAddr) net.Addr {
	if a == nil {
		return nil
	}
	return a
}

// Close closes the connection: pending Reads and Writes return
// net.ErrClosed, and Close returns once the descriptor is closed. A second
// Close returns an error matching net.ErrClosed.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.opError("close", net.ErrClosed)
	}
	if err := post(c.nw, c, (*Conn).beginClose); err != nil {
		<-c.nw.done // the Network is closing: its teardown closes the descriptor
		return nil
	}
	<-c.closedCh
	if c.closeErr != nil {
		return c.opError("close", c.closeErr)
	}
	return nil
}

// beginClose runs on the loop: no new operation starts, the ones in flight
// and the timers are canceled, and the descriptor is closed when the last
// of them has finished.
func (c *Conn) beginClose() {
	if c.closing {
		return
	}
	c.closing = true
	for _, d := range [2]*direction{&c.rd, &c.wr} {
		d.cancel()
		d.stopTimer()
	}
	c.maybeCloseFD()
}

// maybeCloseFD submits the descriptor's Close once Close has begun and no
// operation of the Conn is in flight (the kernel must not see a number that
// may already belong to another file).
func (c *Conn) maybeCloseFD() {
	if !c.closing || c.fdClosing || !c.rd.idle() || !c.wr.idle() {
		return
	}
	c.fdClosing = true
	ioloop.Close(c.nw.loop, &c.closeOp, c.fd, c, (*Conn).onClosed)
}

func (c *Conn) onClosed(_ *ioloop.Completion, err error) {
	if err == ioloop.ErrClosed || errors.Is(err, ioloop.ErrCanceled) {
		return // the loop is closing and the Close never ran: teardown closes the descriptor
	}
	if err != nil {
		c.closeErr = os.NewSyscallError("close", err)
	}
	if c.registered {
		delete(c.nw.conns, c)
	}
	c.chClosed = true
	close(c.closedCh)
	c.nw.wakeCaller()
}

// closeFDNow closes the descriptor directly, during the Network's teardown
// (the loop has closed: nothing is in flight).
func (c *Conn) closeFDNow() {
	if c.chClosed {
		return
	}
	closeFD(c.fd)
	c.chClosed = true
	close(c.closedCh)
}

// CloseWrite shuts down the writing side of the connection
// (shutdown(2) with SHUT_WR): the peer reads io.EOF after the data already
// written. net/http and crypto/tls use it when the type offers it.
func (c *Conn) CloseWrite() error {
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	if c.closed.Load() {
		return c.opError("close", net.ErrClosed)
	}
	if post(c.nw, c, (*Conn).shutdownWrite) != nil {
		return c.opError("close", net.ErrClosed)
	}
	<-c.ctlDone
	if err := c.ctlErr; err != nil {
		c.ctlErr = nil
		return c.opError("close", err)
	}
	return nil
}

// shutdownWrite runs on the loop, where the descriptor cannot be closed
// underneath it. shutdown(2) never blocks, so it is called directly.
func (c *Conn) shutdownWrite() {
	if c.closing {
		c.ctlErr = net.ErrClosed
	} else if err := shutdownWrite(c.fd); err != nil {
		c.ctlErr = os.NewSyscallError("shutdown", err)
	}
	c.ctlDone <- struct{}{}
	c.nw.wakeCaller()
}

// opError wraps err as the net package does.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: addrOrNil(c.laddr), Addr: addrOrNil(c.raddr), Err: err}
}
