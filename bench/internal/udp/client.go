package udp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/bench/internal/echo"
	"github.com/ioloop/ioloop/internal/benchkit/load"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
	"golang.org/x/sys/unix"
)

// The load generator is the same for every server: Clients UDP sockets on
// one ioloop loop over io_uring (epoll where io_uring is refused), one
// goroutine, pinned by the parent to its own CPU, like the TCP echo
// workload's. Each socket is connected to the server and keeps InFlight
// datagrams of Size bytes in flight: whenever one comes back it checks
// it and sends the next (ping-pong with a window). A socket has one
// receive in flight, which takes whichever reply arrives, and one send
// Completion per datagram in flight.
//
// A datagram carries its socket, its slot among the socket's InFlight,
// the slot's generation and the time it was sent; the rest is a pattern
// of the socket's own. UDP may drop datagrams (loopback does when a
// receive queue overflows): a slot whose datagram has not come back
// within lostAfter gives up on it, counts it as Lost, moves to its next
// generation and sends a new datagram. A reply of an older generation
// that arrives after that is counted as Late and otherwise ignored, so
// the window stays InFlight.

// ClientConfig says what one load generator run does.
type ClientConfig struct {
	Addr       netip.AddrPort
	Clients    int // sockets
	InFlight   int // datagrams in flight per socket
	Size       int // bytes per datagram, at least headerSize
	ServerPID  int // the server process, measured through /proc and perf
	Warmup     time.Duration
	Window     time.Duration // the measured window: rate, latency, CPU, RSS
	PerfWindow time.Duration // a second window with perf counting the server's system calls; 0: none
}

// Result is what one run of the load generator reports: the TCP echo
// workload's figures (a message is one datagram's round trip), and what
// UDP lost.
type Result struct {
	echo.LoadResult
	Lost int64 `json:"lost"` // datagrams given up on after a stall
	Late int64 `json:"late"` // replies that came back after being given up on
}

// The header of every datagram, little-endian: socket index, slot index,
// generation (uint32 each), and the time it was sent (int64 nanoseconds
// since the client's epoch).
const (
	offSocket   = 0
	offSlot     = 4
	offGen      = 8 // the slot's generation
	offSent     = 12
	headerSize  = 20
	maxReplyLen = BufSize // a longer reply is wrong, and is seen to be
)

// checkInterval is how often the client looks up from the loop, to look
// for lost datagrams and check its own stop condition; a datagram not
// back within lostAfter is lost: on loopback, even under the suite's
// heaviest load, replies come back within tens of milliseconds.
const (
	checkInterval = 50 * time.Millisecond
	lostAfter     = 250 * time.Millisecond
)

type client struct {
	loop      *ioloop.Loop
	socks     []socket
	epoch     time.Time
	measuring bool // record latencies (inside measure)
	stopping  bool // send nothing new
	messages  int64
	lost      int64
	late      int64
	latency   load.Histogram
	err       error // first failure; stops the run
}

type socket struct {
	cl      *client
	index   uint32
	fd      int
	recv    ioloop.Completion
	recvBuf []byte
	slots   []slot
}

type slot struct {
	s       *socket
	index   uint32
	send    ioloop.Completion
	buf     []byte
	gen     uint32        // datagrams of older generations have been given up on
	sentAt  time.Duration // when the datagram in flight was sent, since the client's epoch
	waiting bool          // its reply has not come back yet
	sending bool          // the Send is submitted and has not called back yet
	again   bool          // send again when it has: the reply overtook the callback
}

func (cl *client) setErr(err error) {
	if cl.err == nil {
		cl.err = err
	}
}

// newClient opens cfg.Clients sockets connected to the server, with every
// buffer cut from one allocation.
func newClient(cfg ClientConfig) (*client, error) {
	if cfg.Size < headerSize || cfg.Size > maxReplyLen {
		return nil, fmt.Errorf("datagram size %d out of %d..%d", cfg.Size, headerSize, maxReplyLen)
	}
	if !cfg.Addr.Addr().Is4() {
		return nil, fmt.Errorf("server address %v: the load generator speaks IPv4", cfg.Addr)
	}
	loop, err := ioloop.New(ioloop.Options{Entries: 4096})
	if err != nil {
		return nil, err
	}
	cl := &client{loop: loop, socks: make([]socket, cfg.Clients), epoch: time.Now()}
	per := maxReplyLen + cfg.InFlight*cfg.Size
	bufs := make([]byte, cfg.Clients*per)
	slots := make([]slot, cfg.Clients*cfg.InFlight)
	server := unix.SockaddrInet4{Port: int(cfg.Addr.Port()), Addr: cfg.Addr.Addr().As4()}
	for i := range cl.socks {
		s := &cl.socks[i]
		b := bufs[i*per : (i+1)*per : (i+1)*per]
		*s = socket{cl: cl, index: uint32(i), fd: -1, recvBuf: b[:maxReplyLen], slots: slots[i*cfg.InFlight : (i+1)*cfg.InFlight]}
		if s.fd, err = ioloop.UDPSocket(cfg.Addr); err != nil {
			cl.close()
			return nil, err
		}
		// Connected: the kernel fills in the destination, and a reply from
		// anywhere but the server is not delivered.
		if err := unix.Connect(s.fd, &server); err != nil {
			cl.close()
			return nil, fmt.Errorf("connect to %v: %w", cfg.Addr, err)
		}
		for k := range s.slots {
			buf := b[maxReplyLen+k*cfg.Size : maxReplyLen+(k+1)*cfg.Size : maxReplyLen+(k+1)*cfg.Size]
			for j := headerSize; j < len(buf); j++ {
				buf[j] = byte(i*31 + j)
			}
			binary.LittleEndian.PutUint32(buf[offSocket:], uint32(i))
			binary.LittleEndian.PutUint32(buf[offSlot:], uint32(k))
			s.slots[k] = slot{s: s, index: uint32(k), buf: buf}
		}
	}
	return cl, nil
}

// start submits every socket's receive and sends its first datagrams.
func (cl *client) start() {
	for i := range cl.socks {
		s := &cl.socks[i]
		s.receive()
		for k := range s.slots {
			s.slots[k].sendNext()
		}
	}
}

func (s *socket) receive() {
	ioloop.Recv(s.cl.loop, &s.recv, s.fd, s.recvBuf, s, (*socket).onRecv)
}

func (sl *slot) sendNext() {
	cl := sl.s.cl
	sl.sentAt = time.Since(cl.epoch)
	binary.LittleEndian.PutUint32(sl.buf[offGen:], sl.gen)
	binary.LittleEndian.PutUint64(sl.buf[offSent:], uint64(sl.sentAt))
	sl.sending, sl.waiting = true, true
	ioloop.Send(cl.loop, &sl.send, sl.s.fd, sl.buf, sl, (*slot).onSent)
}

func (sl *slot) onSent(_ *ioloop.Completion, _ int, err error) {
	cl := sl.s.cl
	sl.sending = false
	if err != nil {
		if !(cl.stopping && errors.Is(err, ioloop.ErrCanceled)) {
			cl.setErr(fmt.Errorf("send: %w", err))
		}
		return
	}
	if sl.again && !cl.stopping {
		sl.again = false
		sl.sendNext()
	}
}

func (s *socket) onRecv(_ *ioloop.Completion, n int, err error) {
	cl := s.cl
	switch {
	case errors.Is(err, syscall.EAGAIN):
		// Not expected with one receive per socket, but harmless: try again.
		s.receive()
		return
	case err != nil:
		if !(cl.stopping && errors.Is(err, ioloop.ErrCanceled)) {
			cl.setErr(fmt.Errorf("receive: %w", err))
		}
		return
	}
	if err := s.reply(s.recvBuf[:n]); err != nil {
		cl.setErr(err)
		return
	}
	s.receive()
}

// reply checks one datagram that came back and sends the next in its
// slot.
func (s *socket) reply(got []byte) error {
	cl := s.cl
	if len(got) < headerSize {
		return fmt.Errorf("socket %d: a reply of %d bytes, shorter than any datagram sent", s.index, len(got))
	}
	k := binary.LittleEndian.Uint32(got[offSlot:])
	if binary.LittleEndian.Uint32(got[offSocket:]) != s.index || int(k) >= len(s.slots) {
		return fmt.Errorf("socket %d: a reply to another socket's datagram", s.index)
	}
	sl := &s.slots[k]
	if binary.LittleEndian.Uint32(got[offGen:]) != sl.gen || !sl.waiting {
		cl.late++
		return nil
	}
	if string(got) != string(sl.buf) { // compiles to a comparison, no allocation
		return fmt.Errorf("socket %d: the server echoed different bytes than were sent", s.index)
	}
	sl.waiting = false
	cl.messages++
	if cl.measuring {
		cl.latency.Record(time.Since(cl.epoch) - sl.sentAt)
	}
	switch {
	case cl.stopping:
	case sl.sending:
		sl.again = true
	default:
		sl.sendNext()
	}
	return nil
}

// checkLost gives up on every datagram that has not come back within
// lostAfter, and sends a new one in its slot (see the package comment).
func (cl *client) checkLost() {
	if cl.stopping {
		return
	}
	now := time.Since(cl.epoch)
	for i := range cl.socks {
		s := &cl.socks[i]
		for k := range s.slots {
			sl := &s.slots[k]
			if !sl.waiting || now-sl.sentAt < lostAfter {
				continue
			}
			cl.lost++
			sl.gen++
			if sl.sending {
				sl.again = true
			} else {
				sl.sendNext()
			}
		}
	}
}

// runFor runs the loop for d, looking for lost datagrams every checkInterval,
// and returns early on failure.
func (cl *client) runFor(d time.Duration) error {
	deadline := time.Now().Add(d)
	for cl.err == nil {
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		if err := cl.loop.RunFor(min(left, checkInterval)); err != nil {
			return err
		}
		cl.checkLost()
	}
	return cl.err
}

// measure runs the load for d, recording latencies, with p around it, and
// returns the round trips completed over the interval it measured.
func (cl *client) measure(d time.Duration, p *load.Probe) (int64, proc.Interval, error) {
	if err := p.Begin(); err != nil {
		return 0, proc.Interval{}, err
	}
	m := proc.StartMeter()
	before := cl.messages
	cl.measuring = true
	err := cl.runFor(d)
	cl.measuring = false
	iv := m.Stop()
	if err != nil {
		return 0, proc.Interval{}, err
	}
	if err := p.End(); err != nil {
		return 0, proc.Interval{}, err
	}
	return cl.messages - before, iv, nil
}

// close closes the loop, which cancels the receives still waiting, and
// then the sockets.
func (cl *client) close() {
	cl.stopping = true
	_ = cl.loop.Close()
	for i := range cl.socks {
		if cl.socks[i].fd >= 0 {
			_ = unix.Close(cl.socks[i].fd)
			cl.socks[i].fd = -1
		}
	}
}

// RunLoad warms up and measures, as the TCP echo workload does (package
// echo's RunLoad, whose report this shares): rate, latency and the
// server's CPU time over Window, its RSS after it, and then, if
// PerfWindow is set, the server's system calls over a second window.
func RunLoad(cfg ClientConfig) (Result, error) {
	meter, err := load.NewServerMeter(cfg.ServerPID)
	if err != nil {
		return Result{}, err
	}
	cl, err := newClient(cfg)
	if err != nil {
		return Result{}, err
	}
	defer cl.close()
	cl.start()
	if err := cl.runFor(cfg.Warmup); err != nil {
		return Result{}, err
	}
	var run load.EchoResult
	if run.Messages, run.Interval, err = cl.measure(cfg.Window, meter.CPUProbe()); err != nil {
		return Result{}, err
	}
	if run.Messages == 0 {
		return Result{}, errors.New("no datagram completed a round trip while measuring")
	}
	run.P50, run.P99 = cl.latency.Quantile(0.50), cl.latency.Quantile(0.99)
	if cfg.PerfWindow > 0 {
		if run.SyscallWindowMessages, _, err = cl.measure(cfg.PerfWindow, meter.SyscallProbe()); err != nil {
			meter.Abandon()
			return Result{}, err
		}
	}
	cl.stopping = true
	res := Result{Lost: cl.lost, Late: cl.late}
	res.LoadResult, err = echo.Report(run, meter, cl.loop.Backend(), cfg.PerfWindow)
	return res, err
}
