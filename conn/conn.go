package conn

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
)

// Handler is a server's or client's connection logic. The layer calls it
// on the loop's goroutine, one call at a time per loop.
type Handler interface {
	// OnOpen is called once, when the connection has been accepted or
	// dialed. Writes made here are flushed when it returns.
	OnOpen(c *Conn)
	// OnData is called when new input is buffered. It consumes what it
	// can (ReadUntil, Next, Peek and Discard, Input) and leaves the rest,
	// an incomplete frame, for the next call. The slices the framing
	// helpers return stay valid until OnData returns. Writes made here
	// are coalesced and flushed, in one send, when it returns.
	OnData(c *Conn)
	// OnClose is called exactly once per Conn that Listen accepted or
	// Dial returned, on every path, once its descriptor is closed and
	// nothing of it is in flight. reason is nil after Close (unless an
	// error cut its flush or drain short: then that error) or Abort(nil),
	// io.EOF when the peer closed first, ioloop.ErrClosed when Loop.Close
	// ended the connection, and otherwise the error that ended it: an
	// *OpError (a reset, a timeout, a failed dial), ErrInputTooLarge, or
	// the error given to Abort.
	OnClose(c *Conn, reason error)
}

// connState is where a Conn is in its life; the order matters (later
// states compare greater).
type connState uint8

const (
	stateDialing     connState = iota // resolving or connecting
	stateOpen                         // OnOpen ran: input is delivered, output sent
	stateClosing                      // graceful close: flushing the write queue
	stateShutdown                     // graceful close: shutdown(SHUT_WR) in flight
	stateDraining                     // graceful close: discarding input until the peer's end of stream
	stateTearingDown                  // canceling what is in flight, then closing the descriptor
	stateClosed                       // OnClose has been called
)

// The operations a teardown has canceled (Conn.canceled).
const (
	canceledRecv uint8 = 1 << iota
	canceledTimer
	canceledSend
	canceledCtl
)

// segmentBytes is the size of a write queue segment. Writes are copied
// into the last segment while it has room; a queue of several segments
// goes out in one vectored send of up to maxSendSegments of them.
const (
	segmentBytes     = 8 << 10
	maxSendSegments  = 64
	maxSpareSegments = 2
	// firstSegmentBytes is the size of the segment a connection's first
	// Write allocates: small, because a connection keeps its last segment
	// for ever (so that steady-state writing allocates nothing), and most
	// replies are small. Writes that do not fit add full segments.
	firstSegmentBytes = 1 << 10
)

// neverNs is the deadline of a timer armed only so that Loop.Close finds
// something to cancel (a Dial resolving a name without a DialTimeout).
const neverNs = math.MaxInt64

// A Conn is one connection on a Loop: its socket, its input buffer, its
// write queue and its timeouts. Listen creates one per accepted
// connection, Dial one per call. All its methods run on the loop's
// goroutine.
type Conn struct {
	// The fields a message touches come first, next to the two
	// Completions it uses, so that serving a message touches few cache
	// lines (at thousands of connections they are cold).
	loop *ioloop.Loop
	h    Handler
	set  *settings
	fd   int

	state     connState
	inHandler bool // OnOpen or OnData is on the stack: flush when it returns
	peerEOF   bool // the peer's end of stream has been received
	// recvAfterSend: the next receive waits for the send of what the
	// last OnData wrote (Options.FullDuplex).
	recvAfterSend bool
	// paused: PauseRead; pauseCancel: a pooled receive is being canceled
	// for it (pauseCancelWanted: once the cancel Completion is free).
	paused, pauseCancel, pauseCancelWanted bool

	// Input: cur[r:w] is buffered and not consumed. cur is in, the
	// connection's own buffer, except during an OnData of pooled mode that
	// delivers a pool buffer directly.
	cur  []byte
	in   []byte
	r, w int

	// Output: out holds the queued segments, out[0][outHead:] first;
	// queued counts their bytes (those of the send in flight included).
	out     [][]byte
	outHead int
	queued  int

	// Timeouts (0: none); the deadlines are further down.
	readTimeoutNs, writeTimeoutNs, idleNs int64

	recvOp, sendOp ioloop.Completion

	iov   [][]byte
	spare [][]byte
	// drained counts the bytes a graceful close discarded.
	drained int

	// Deadlines, in nanoseconds since base on the loop's clock, 0 for
	// none; armedNs is the deadline the timer is armed for.
	base                                     time.Time
	minTimeoutNs                             int64
	readDL, writeDL, idleDL, closeDL, dialDL int64
	armedNs                                  int64
	retiming                                 bool

	reasonSet bool
	canceled  uint8
	finalStep bool // the descriptor's Close (or the deferred OnClose) is in flight
	reason    error

	// network is "tcp", "tcp4", "tcp6" or "unix"; addr the peer's address
	// as Dial was given it (for accepted connections it is built on error
	// paths only).
	network string
	addr    string
	ctx     any

	// Addresses, looked up when first asked for.
	local, remote netip.AddrPort
	addrsKnown    uint8

	// Dialing.
	dial *dialState

	timerOp, ctlOp, cancelOp, wakeOp ioloop.Completion
}

func newConn(loop *ioloop.Loop, h Handler, set *settings, network string) *Conn {
	c := &Conn{loop: loop, h: h, set: set, fd: -1, network: network, base: loop.Now()}
	c.readTimeoutNs = int64(set.opts.ReadTimeout)
	c.writeTimeoutNs = int64(set.opts.WriteTimeout)
	c.idleNs = int64(set.opts.IdleTimeout)
	c.updateMinTimeout()
	return c
}

// Loop returns the loop the connection runs on.
func (c *Conn) Loop() *ioloop.Loop { return c.loop }

// FD returns the connection's socket descriptor, or -1 before it is
// connected and once it is closed. Setting socket options on it is fine;
// reading, writing or closing it behind the layer's back is not.
func (c *Conn) FD() int { return c.fd }

// SetContext attaches a value of the caller's (a session, a parser) to
// the connection.
func (c *Conn) SetContext(v any) { c.ctx = v }

// Context returns the value SetContext attached, or nil.
func (c *Conn) Context() any { return c.ctx }

// LocalAddr returns the address the connection's socket is bound to: the
// zero AddrPort for a unix socket, or if it is not connected.
func (c *Conn) LocalAddr() netip.AddrPort {
	if c.addrsKnown&1 == 0 && c.fd >= 0 && c.network != "unix" {
		if ap, err := c.loop.LocalAddr(c.fd); err == nil {
			c.local, c.addrsKnown = ap, c.addrsKnown|1
		}
	}
	return c.local
}

// RemoteAddr returns the peer's address: the zero AddrPort for a unix
// socket, or if it is not connected.
func (c *Conn) RemoteAddr() netip.AddrPort {
	if c.addrsKnown&2 == 0 && c.fd >= 0 && c.network != "unix" {
		if ap, err := c.loop.RemoteAddr(c.fd); err == nil {
			c.remote, c.addrsKnown = ap, c.addrsKnown|2
		}
	}
	return c.remote
}

// Network returns "tcp", "tcp4", "tcp6" or "unix".
func (c *Conn) Network() string { return c.network }

// Reading: the framing helpers.

// Buffered returns how many bytes of input are buffered and not consumed.
func (c *Conn) Buffered() int { return c.w - c.r }

// Input returns all the buffered input without consuming it. It is valid
// until OnData returns (or, called outside OnData, until the loop next
// runs a callback of this connection).
func (c *Conn) Input() []byte { return c.cur[c.r:c.w] }

// Peek returns the next n bytes of input without consuming them, or nil
// if fewer are buffered. Its validity is Input's.
func (c *Conn) Peek(n int) []byte {
	if n < 0 || n > c.w-c.r {
		return nil
	}
	return c.cur[c.r : c.r+n : c.r+n]
}

// Next returns the next n bytes of input and consumes them, or returns
// nil and consumes nothing if fewer are buffered: read exactly n. Its
// validity is Input's.
func (c *Conn) Next(n int) []byte {
	p := c.Peek(n)
	if p != nil {
		c.r += n
	}
	return p
}

// Discard consumes up to n bytes of input and returns how many it
// consumed.
func (c *Conn) Discard(n int) int {
	n = max(min(n, c.w-c.r), 0)
	c.r += n
	return n
}

// ReadUntil returns the input up to and including the first delim, and
// consumes it. ok is false, and nothing is consumed, when no delim is
// buffered yet: wait for the next OnData. Its validity is Input's. A frame
// that never ends is bounded by Options.MaxInputBytes.
func (c *Conn) ReadUntil(delim byte) (frame []byte, ok bool) {
	i := bytes.IndexByte(c.cur[c.r:c.w], delim)
	if i < 0 {
		return nil, false
	}
	frame = c.cur[c.r : c.r+i+1 : c.r+i+1]
	c.r += i + 1
	return frame, true
}

// Writing.

// Write copies p into the write queue and returns len(p), nil; or 0 and
// ErrWriteQueueFull when the queue would pass Options.MaxQueuedBytes, or
// 0 and ErrClosed once the connection is closing. Queued bytes go out
// coalesced: Writes made in an OnData or OnOpen are sent together, in one
// send, when it returns; a Write made elsewhere (a timer, a posted
// function) starts a send at once unless one is in flight, and the Writes
// queued behind it go out together when it completes. Writes made while
// Dial connects are sent once it has.
func (c *Conn) Write(p []byte) (int, error) {
	if c.state >= stateClosing {
		return 0, ErrClosed
	}
	if c.queued+len(p) > c.set.maxQueuedBytes {
		return 0, ErrWriteQueueFull
	}
	n := len(p)
	for len(p) > 0 {
		m := copy(c.tailRoom(), p)
		c.out[len(c.out)-1] = c.out[len(c.out)-1][:len(c.out[len(c.out)-1])+m]
		p = p[m:]
	}
	c.queuedMore(n)
	return n, nil
}

// WriteString is Write of a string, without converting it to a []byte
// first.
func (c *Conn) WriteString(s string) (int, error) {
	if c.state >= stateClosing {
		return 0, ErrClosed
	}
	if c.queued+len(s) > c.set.maxQueuedBytes {
		return 0, ErrWriteQueueFull
	}
	n := len(s)
	for len(s) > 0 {
		m := copy(c.tailRoom(), s)
		c.out[len(c.out)-1] = c.out[len(c.out)-1][:len(c.out[len(c.out)-1])+m]
		s = s[m:]
	}
	c.queuedMore(n)
	return n, nil
}

// tailRoom returns the free part of the last segment, adding a segment
// when the last is full.
func (c *Conn) tailRoom() []byte {
	k := len(c.out)
	if k == 0 || len(c.out[k-1]) == cap(c.out[k-1]) {
		c.out = append(c.out, c.newSegment())
		k++
	}
	tail := c.out[k-1]
	return tail[len(tail):cap(tail)]
}

// queuedMore accounts for n bytes just queued: the write deadline, and a
// send unless a handler is running.
func (c *Conn) queuedMore(n int) {
	if c.queued == 0 && n > 0 && c.writeTimeoutNs > 0 && c.state == stateOpen {
		c.writeDL = deadlineNs(c.nowNs(), c.writeTimeoutNs)
		c.deadlineSet(c.writeDL)
	}
	c.queued += n
	if !c.inHandler {
		c.flush()
	}
}

// Queued returns how many bytes are in the write queue, not yet
// acknowledged as sent by the kernel.
func (c *Conn) Queued() int { return c.queued }

// Flush starts sending the write queue now, unless a send is in flight
// already (what is queued behind it goes out when it completes). The layer
// flushes after every OnOpen and OnData, and a Write outside them flushes
// by itself, so Flush is needed only to start a send before a long OnData
// returns.
func (c *Conn) Flush() { c.flush() }

func (c *Conn) newSegment() []byte {
	if k := len(c.spare); k > 0 {
		s := c.spare[k-1]
		c.spare[k-1] = nil
		c.spare = c.spare[:k-1]
		return s[:0]
	}
	if c.out == nil {
		return make([]byte, 0, firstSegmentBytes)
	}
	return make([]byte, 0, segmentBytes)
}

func (c *Conn) flush() {
	if c.queued == 0 || c.sendOp.Pending() || (c.state != stateOpen && c.state != stateClosing) {
		return
	}
	if len(c.out) == 1 {
		ioloop.Send(c.loop, &c.sendOp, c.fd, c.out[0][c.outHead:], c, (*Conn).onSent)
		return
	}
	iov := append(c.iov[:0], c.out[0][c.outHead:])
	for _, s := range c.out[1:min(len(c.out), maxSendSegments)] {
		iov = append(iov, s)
	}
	c.iov = iov
	sendVectored(c, iov)
}

// sent drops the first n queued bytes.
func (c *Conn) sent(n int) {
	c.queued -= n
	for n > 0 {
		s := c.out[0]
		left := len(s) - c.outHead
		if n < left {
			c.outHead += n
			return
		}
		n -= left
		c.outHead = 0
		if len(c.out) == 1 {
			c.out[0] = s[:0]
			return
		}
		if len(c.spare) < maxSpareSegments && cap(s) == segmentBytes {
			c.spare = append(c.spare, s[:0])
		}
		c.out[0] = nil
		c.out = c.out[:copy(c.out, c.out[1:])]
	}
}

func (c *Conn) onSent(_ *ioloop.Completion, n int, err error) {
	clear(c.iov) // drop the references to sent segments
	c.iov = c.iov[:0]
	c.sent(n)
	if c.state >= stateTearingDown {
		c.teardownStep()
		return
	}
	if err != nil {
		if errors.Is(err, ioloop.ErrCanceled) {
			c.teardown(ioloop.ErrClosed) // nothing of ours cancels a send before teardown: Loop.Close
			return
		}
		c.teardown(c.opError("write", syscallError("write", err)))
		return
	}
	if c.idleNs > 0 || c.writeTimeoutNs > 0 {
		now := c.nowNs()
		if c.idleNs > 0 {
			c.idleDL = deadlineNs(now, c.idleNs)
		}
		if c.queued == 0 {
			c.writeDL = 0
		} else if c.writeTimeoutNs > 0 {
			c.writeDL = deadlineNs(now, c.writeTimeoutNs) // progress re-arms it
		}
	}
	if c.recvAfterSend {
		c.recvAfterSend = false
		c.armRecv()
	}
	if c.queued > 0 {
		c.flush()
		return
	}
	if c.state == stateClosing {
		c.shutdownWrite()
	}
}

// Receiving.

func (c *Conn) armRecv() {
	if c.recvOp.Pending() || c.peerEOF || c.state >= stateTearingDown || (c.paused && c.state == stateOpen) {
		return
	}
	if p := c.set.opts.Pool; p != nil {
		ioloop.RecvMultishot(c.loop, &c.recvOp, c.fd, p, c, (*Conn).onShot)
		return
	}
	if c.in == nil {
		c.in = make([]byte, c.set.readBufferBytes)
		c.cur = c.in
	}
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.r > 0 && len(c.in)-c.w < len(c.in)/2 {
		c.w = copy(c.in, c.in[c.r:c.w])
		c.r = 0
	}
	limit := c.r + c.set.maxInputBytes
	if c.w >= limit {
		c.teardown(ErrInputTooLarge)
		return
	}
	if c.w == len(c.in) {
		grown := make([]byte, min(max(2*len(c.in), len(c.in)+c.set.readBufferBytes), c.set.maxInputBytes))
		c.w = copy(grown, c.in[c.r:c.w])
		c.r = 0
		c.in, c.cur = grown, grown
		limit = c.set.maxInputBytes
	}
	ioloop.Recv(c.loop, &c.recvOp, c.fd, c.in[c.w:min(len(c.in), limit)], c, (*Conn).onRecv)
}

func (c *Conn) onRecv(_ *ioloop.Completion, n int, err error) {
	switch {
	case c.state >= stateTearingDown:
		c.teardownStep()
	case err != nil:
		c.recvEnded(err)
	case c.state >= stateClosing:
		c.discard(n)
	default:
		c.w += n
		if !c.paused {
			c.deliver()
		}
		if c.sendOp.Pending() && !c.set.opts.FullDuplex && c.state == stateOpen {
			c.recvAfterSend = true // onSent receives again
			return
		}
	}
	c.armRecv()
}

// onShot receives a pooled buffer (Options.Pool).
func (c *Conn) onShot(_ *ioloop.Completion, buf []byte, err error) {
	if err != nil { // the multishot's final callback
		if c.state >= stateTearingDown {
			c.teardownStep()
			return
		}
		if c.pauseCancel && errors.Is(err, ioloop.ErrCanceled) {
			c.pauseCancel = false
			c.armRecv() // resumed meanwhile
			return
		}
		c.recvEnded(err)
		c.armRecv() // a healthy receive never ends otherwise; re-arm if it did
		return
	}
	pool := c.set.opts.Pool
	switch {
	case c.state >= stateTearingDown:
	case c.state >= stateClosing:
		c.discard(len(buf))
	case c.paused:
		c.appendInput(buf)
	case c.r == c.w:
		// Nothing buffered: deliver the pool's buffer itself, and keep
		// only what OnData leaves.
		c.cur, c.r, c.w = buf, 0, len(buf)
		c.deliver()
		left := c.cur[c.r:c.w]
		c.cur, c.r, c.w = c.in, 0, 0
		if len(left) > 0 && c.state < stateClosing {
			c.appendInput(left)
		}
	default:
		if c.appendInput(buf) {
			c.deliver()
		}
	}
	pool.Release(buf)
}

// appendInput adds p to the connection's own buffer (pooled mode),
// growing it up to MaxInputBytes; past that it tears the connection
// down and reports false.
func (c *Conn) appendInput(p []byte) bool {
	if c.w-c.r+len(p) > c.set.maxInputBytes {
		c.teardown(ErrInputTooLarge)
		return false
	}
	if c.r > 0 {
		c.w = copy(c.in, c.in[c.r:c.w])
		c.r = 0
	}
	if c.w+len(p) > len(c.in) {
		grown := make([]byte, min(max(2*len(c.in), c.w+len(p), c.set.readBufferBytes), c.set.maxInputBytes))
		copy(grown, c.in[:c.w])
		c.in = grown
	}
	c.w += copy(c.in[c.w:], p)
	c.cur = c.in
	return true
}

// deliver runs OnData on the buffered input, flushes what it wrote and
// keeps the read deadline.
func (c *Conn) deliver() {
	if c.idleNs > 0 {
		c.idleDL = deadlineNs(c.nowNs(), c.idleNs)
	}
	c.inHandler = true
	c.h.OnData(c)
	c.inHandler = false
	if c.state >= stateClosing {
		return
	}
	c.flush()
	if c.readTimeoutNs > 0 {
		if c.r == c.w {
			c.readDL = 0
		} else if c.readDL == 0 {
			c.readDL = deadlineNs(c.nowNs(), c.readTimeoutNs)
			c.deadlineSet(c.readDL)
		}
	}
}

// discard drops n bytes a graceful close received.
func (c *Conn) discard(n int) {
	c.r, c.w = 0, 0
	c.drained += n
	if c.drained > c.set.drainBytes {
		c.teardown(nil)
	}
}

// recvEnded handles the end of receiving: the peer's end of stream, a
// reset, or Loop.Close.
func (c *Conn) recvEnded(err error) {
	switch {
	case err == io.EOF:
		c.peerEOF = true
		switch c.state {
		case stateOpen:
			c.startClose(io.EOF)
		case stateDraining:
			c.teardown(nil)
		}
	case errors.Is(err, ioloop.ErrCanceled) || errors.Is(err, ioloop.ErrClosed):
		c.teardown(ioloop.ErrClosed)
	default:
		c.teardown(c.opError("read", syscallError("read", err)))
	}
}

// Timeouts.

// SetReadTimeout changes this connection's read timeout (see
// Options.ReadTimeout); 0 removes it.
func (c *Conn) SetReadTimeout(d time.Duration) {
	c.readTimeoutNs = max(int64(d), 0)
	c.readDL = 0
	c.updateMinTimeout()
	if c.readTimeoutNs > 0 && c.r < c.w && c.state == stateOpen {
		c.readDL = deadlineNs(c.nowNs(), c.readTimeoutNs)
		c.deadlineSet(c.readDL)
	}
}

// SetWriteTimeout changes this connection's write timeout (see
// Options.WriteTimeout); 0 removes it.
func (c *Conn) SetWriteTimeout(d time.Duration) {
	c.writeTimeoutNs = max(int64(d), 0)
	c.writeDL = 0
	c.updateMinTimeout()
	if c.writeTimeoutNs > 0 && c.queued > 0 && c.state >= stateOpen && c.state < stateTearingDown {
		c.writeDL = deadlineNs(c.nowNs(), c.writeTimeoutNs)
		c.deadlineSet(c.writeDL)
	}
}

// SetIdleTimeout changes this connection's idle timeout (see
// Options.IdleTimeout), counting from now; 0 removes it.
func (c *Conn) SetIdleTimeout(d time.Duration) {
	c.idleNs = max(int64(d), 0)
	c.idleDL = 0
	c.updateMinTimeout()
	if c.idleNs > 0 && c.state == stateOpen {
		c.idleDL = deadlineNs(c.nowNs(), c.idleNs)
		c.deadlineSet(c.idleDL)
	}
}

func (c *Conn) updateMinTimeout() {
	c.minTimeoutNs = 0
	for _, t := range [...]int64{c.readTimeoutNs, c.writeTimeoutNs, c.idleNs} {
		if t > 0 && (c.minTimeoutNs == 0 || t < c.minTimeoutNs) {
			c.minTimeoutNs = t
		}
	}
}

func (c *Conn) nowNs() int64 { return int64(c.loop.Now().Sub(c.base)) }

// deadlineNs is the deadline timeoutNs after nowNs, saturated at the
// largest int64: a timeout near time.Duration's limit means "practically
// never", not a sum that wrapped into the past (which would fire at once
// and look due to every later timer event).
func deadlineNs(nowNs, timeoutNs int64) int64 {
	if timeoutNs > math.MaxInt64-nowNs {
		return math.MaxInt64
	}
	return nowNs + timeoutNs
}

// The timer. A connection has one timer Completion, armed for the
// earliest of its deadlines but never later than the shortest of its
// timeouts from the moment it is armed. Deadlines only move in fields:
// a message that pushes the idle deadline later, or starts a write
// deadline, touches no Completion. Every deadline a timeout sets is now
// plus that timeout, so it is never earlier than where the timer is armed
// (armed at or before armTime + the shortest timeout, and now is past
// armTime); when the timer fires it fires what is due and re-arms for
// what is left. Only the rare deadlines that can be earlier (the dial
// and drain deadlines, a timeout shortened by a Set call) cancel and
// re-arm it.

func (c *Conn) earliest() int64 {
	dl := int64(0)
	for _, d := range [...]int64{c.readDL, c.writeDL, c.idleDL, c.closeDL, c.dialDL} {
		if d != 0 && (dl == 0 || d < dl) {
			dl = d
		}
	}
	return dl
}

// deadlineSet makes sure the timer fires by dl.
func (c *Conn) deadlineSet(dl int64) {
	if c.state >= stateTearingDown {
		return
	}
	if !c.timerOp.Pending() {
		c.armTimer()
		return
	}
	if dl < c.armedNs && !c.retiming && !c.cancelOp.Pending() {
		c.retiming = true
		ioloop.Cancel(c.loop, &c.cancelOp, &c.timerOp, c, (*Conn).onCanceled)
	}
}

func (c *Conn) armTimer() {
	if c.timerOp.Pending() || c.state >= stateTearingDown {
		return
	}
	dl := c.earliest()
	if dl == 0 {
		if !c.paused && (c.dial == nil || !c.dial.resolving) {
			return
		}
		// Resolving on a goroutine, or paused: keep something in flight
		// that Loop.Close will cancel, so that it reaches this Conn.
		c.armedNs = neverNs
		ioloop.Timeout(c.loop, &c.timerOp, time.Duration(math.MaxInt64), c, (*Conn).onTimer)
		return
	}
	now := c.nowNs()
	if c.minTimeoutNs > 0 {
		dl = min(dl, deadlineNs(now, c.minTimeoutNs))
	}
	c.armedNs = dl
	ioloop.Timeout(c.loop, &c.timerOp, time.Duration(dl-now), c, (*Conn).onTimer)
}

func (c *Conn) onTimer(_ *ioloop.Completion, err error) {
	c.armedNs = 0
	if c.state >= stateTearingDown {
		c.teardownStep()
		return
	}
	if err != nil { // ErrCanceled
		if c.retiming {
			c.retiming = false
			c.armTimer()
			return
		}
		c.teardown(c.loopClosedReason())
		return
	}
	c.retiming = false
	now := c.nowNs()
	due := func(dl int64) bool { return dl != 0 && now >= dl }
	switch {
	case due(c.dialDL):
		c.teardown(&OpError{Op: "dial", Net: c.network, Addr: c.addr, Err: ErrDialTimeout})
	case due(c.closeDL):
		if c.queued > 0 {
			c.teardown(c.opError("write", ErrWriteTimeout))
		} else {
			c.teardown(nil)
		}
	case due(c.writeDL):
		c.teardown(c.opError("write", ErrWriteTimeout))
	case due(c.readDL):
		c.readDL = 0
		c.startClose(c.opError("read", ErrReadTimeout))
	case due(c.idleDL):
		c.idleDL = 0
		c.startClose(c.opError("read", ErrIdleTimeout))
	}
	c.armTimer()
}

func (c *Conn) onCanceled(_ *ioloop.Completion, _ error) {
	if c.state >= stateTearingDown {
		c.teardownStep()
		return
	}
	if c.pauseCancelWanted {
		c.pauseCancelWanted = false
		c.cancelRecvForPause()
	}
}

// Pausing input.

// PauseRead stops input: no more OnData calls, and no more receiving (in
// pooled mode the receive is canceled), so TCP's flow control slows a
// peer that goes on sending. Use it while a request is being served
// elsewhere (a disk write, another connection) or while the write queue
// is long. The read timeout does not run while paused; the idle timeout
// does. Input already buffered stays buffered.
func (c *Conn) PauseRead() {
	if c.paused || c.state != stateOpen {
		return
	}
	c.paused = true
	c.readDL = 0
	if c.set.opts.Pool != nil && c.recvOp.Pending() {
		c.cancelRecvForPause()
	}
	if !c.timerOp.Pending() {
		c.armTimer()
	}
}

func (c *Conn) cancelRecvForPause() {
	if !c.paused || !c.recvOp.Pending() || c.pauseCancel {
		return
	}
	if c.cancelOp.Pending() {
		c.pauseCancelWanted = true
		return
	}
	c.pauseCancel = true
	ioloop.Cancel(c.loop, &c.cancelOp, &c.recvOp, c, (*Conn).onCanceled)
}

// ResumeRead undoes PauseRead: receiving starts again, and if input is
// buffered, OnData runs on the loop's next pass without waiting for more,
// so a handler that paused in the middle of pipelined requests goes on
// where it stopped.
func (c *Conn) ResumeRead() {
	if !c.paused {
		return
	}
	c.paused = false
	if c.state != stateOpen {
		return
	}
	if c.r < c.w && !c.wakeOp.Pending() {
		ioloop.NextTick(c.loop, &c.wakeOp, c, (*Conn).onWake)
	}
	c.armRecv()
}

// Paused reports whether PauseRead is in effect.
func (c *Conn) Paused() bool { return c.paused }

func (c *Conn) onWake(_ *ioloop.Completion, _ error) {
	if c.state >= stateTearingDown {
		c.teardownStep()
		return
	}
	if c.state == stateOpen && !c.paused && c.r < c.w {
		c.deliver()
		c.armRecv()
	}
}

// Closing.

// Close closes the connection gracefully: no more OnData; the write queue
// is flushed; shutdown(SHUT_WR) tells the peer; input is discarded until
// the peer's end of stream (at most Options.DrainBytes, within
// Options.DrainTimeout of Close, which also bounds the flush); then the
// descriptor is closed and OnClose runs, with reason nil (unless
// something else ended the connection first). Close returns at once;
// calling it again, or after the connection closed, returns ErrClosed.
// A Dial still connecting is abandoned.
func (c *Conn) Close() error {
	switch {
	case c.state >= stateClosing:
		return ErrClosed
	case c.state == stateDialing:
		c.teardown(nil)
	default:
		c.startClose(nil)
	}
	return nil
}

// Abort closes the connection at once: what is queued is dropped, what is
// in flight canceled, and OnClose runs with reason err once the
// descriptor is closed. It does nothing if the connection is already
// being torn down.
func (c *Conn) Abort(err error) { c.teardown(err) }

func (c *Conn) setReason(err error) {
	if !c.reasonSet {
		c.reason, c.reasonSet = err, true
	}
}

// loopClosedReason is the reason of a connection that Loop.Close ended.
func (c *Conn) loopClosedReason() error {
	if c.state == stateDialing {
		return &OpError{Op: "dial", Net: c.network, Addr: c.addr, Err: ioloop.ErrClosed}
	}
	return ioloop.ErrClosed
}

// startClose begins a graceful close.
func (c *Conn) startClose(reason error) {
	if c.state >= stateClosing {
		return
	}
	if c.state == stateDialing {
		c.teardown(reason)
		return
	}
	if reason != nil {
		// Close's nil is not recorded: an error that cuts the flush or
		// the drain short (a reset, Loop.Close) is the reason then.
		c.setReason(reason)
	}
	c.state = stateClosing
	c.r, c.w = 0, 0
	c.readDL, c.idleDL = 0, 0
	c.closeDL = deadlineNs(c.nowNs(), c.set.drainTimeoutNs)
	c.deadlineSet(c.closeDL)
	if c.queued == 0 {
		c.shutdownWrite()
		return
	}
	c.flush()
}

func (c *Conn) shutdownWrite() {
	c.state = stateShutdown
	ioloop.Shutdown(c.loop, &c.ctlOp, c.fd, shutWrite, c, (*Conn).onShutdown)
}

func (c *Conn) onShutdown(_ *ioloop.Completion, err error) {
	if c.state >= stateTearingDown {
		c.teardownStep()
		return
	}
	if err != nil {
		if errors.Is(err, ioloop.ErrCanceled) {
			c.teardown(ioloop.ErrClosed)
		} else {
			c.teardown(nil) // ENOTCONN and the like: the peer is gone, which is all a drain waits for
		}
		return
	}
	c.state = stateDraining
	if c.peerEOF {
		c.teardown(nil)
		return
	}
	c.armRecv()
}

// teardown ends the connection: cancel what is in flight, close the
// descriptor, call OnClose.
func (c *Conn) teardown(reason error) {
	if c.state >= stateTearingDown {
		return
	}
	c.setReason(reason)
	c.state = stateTearingDown
	c.r, c.w = 0, 0
	c.teardownStep()
}

// teardownStep moves a teardown on; every callback that arrives during
// one calls it. It cancels one operation at a time (the Conn has one
// cancel Completion), waits until nothing is in flight, closes the
// descriptor, and calls OnClose from the Close's callback, never from
// the call that started the teardown.
func (c *Conn) teardownStep() {
	if c.state != stateTearingDown || c.finalStep || c.cancelOp.Pending() {
		return
	}
	for _, t := range [...]struct {
		op  *ioloop.Completion
		bit uint8
	}{{&c.recvOp, canceledRecv}, {&c.timerOp, canceledTimer}, {&c.sendOp, canceledSend}, {&c.ctlOp, canceledCtl}} {
		if t.op.Pending() && c.canceled&t.bit == 0 {
			c.canceled |= t.bit
			ioloop.Cancel(c.loop, &c.cancelOp, t.op, c, (*Conn).onCanceled)
			return
		}
	}
	if c.recvOp.Pending() || c.timerOp.Pending() || c.sendOp.Pending() || c.ctlOp.Pending() || c.wakeOp.Pending() {
		return
	}
	c.finalStep = true
	if c.fd >= 0 {
		ioloop.Close(c.loop, &c.ctlOp, c.fd, c, (*Conn).onClosedFD)
		return
	}
	ioloop.NextTick(c.loop, &c.ctlOp, c, (*Conn).onFinish)
}

func (c *Conn) onClosedFD(_ *ioloop.Completion, err error) {
	if errors.Is(err, ioloop.ErrClosed) || errors.Is(err, ioloop.ErrCanceled) {
		// The Close never ran (the loop is closing): nothing else will
		// close the descriptor.
		closeNow(c.loop, c.fd)
	}
	c.fd = -1
	c.finish()
}

func (c *Conn) onFinish(_ *ioloop.Completion, _ error) { c.finish() }

func (c *Conn) finish() {
	c.state = stateClosed
	c.in, c.cur, c.out, c.spare, c.iov = nil, nil, nil, nil, nil
	c.queued, c.outHead = 0, 0
	c.dial = nil
	c.h.OnClose(c, c.reason)
}

// opError builds the *OpError of a failed read or write, naming the peer.
func (c *Conn) opError(op string, err error) error {
	addr := c.addr
	if addr == "" {
		if ap := c.RemoteAddr(); ap.IsValid() {
			addr = ap.String()
		}
	}
	return &OpError{Op: op, Net: c.network, Addr: addr, Err: err}
}

// open starts a connected Conn: OnOpen, then receiving and sending.
func (c *Conn) open() {
	c.state = stateOpen
	if c.idleNs > 0 {
		c.idleDL = deadlineNs(c.nowNs(), c.idleNs)
	}
	if c.queued > 0 && c.writeTimeoutNs > 0 {
		c.writeDL = deadlineNs(c.nowNs(), c.writeTimeoutNs)
	}
	if c.idleDL != 0 || c.writeDL != 0 {
		c.deadlineSet(c.earliest())
	}
	c.inHandler = true
	c.h.OnOpen(c)
	c.inHandler = false
	if c.state >= stateTearingDown {
		return
	}
	c.flush()
	c.armRecv()
}
