package serve

import (
	"errors"
	"net/netip"

	"github.com/ioloop/ioloop"
)

// UDPEcho sends every datagram it receives on one UDP socket of one loop
// back to its sender: `ioloop echo -udp` and the bench/ suite's ioloop UDP
// contenders run it. It keeps Depth receives in flight, each in a slot of
// its own with its own buffer and Completion: RecvFrom into the buffer,
// then SendTo of what arrived to where it came from, then RecvFrom again.
// Sockaddr and msghdr live in the Completion's rare arguments, attached
// once, so that steady-state echoing allocates nothing. Several receives
// in flight let the kernel (io_uring) or one readiness pass (epoll, kqueue)
// hand over several datagrams per wait, and keep receiving while replies
// are being sent. Only the loop's goroutine touches it.
type UDPEcho struct {
	Loop  *ioloop.Loop
	FD    int
	slots []udpSlot
	// The multishot server (NewUDPEchoMultishot) has no slots: one
	// receive into pool, and the send Completions not in flight.
	pool      *ioloop.BufferPool
	recv      ioloop.Completion
	freeSends []*udpSend

	messages   int64 // datagrams echoed
	bytes      int64 // bytes echoed
	sendErrors int64 // echoes the kernel refused (the datagram is dropped, as UDP may)
	lastSend   error // the last of those errors, for the report
	fatal      error // a receive error that stops the server
}

type udpSlot struct {
	srv *UDPEcho
	op  ioloop.Completion
	buf []byte
}

// UDPEchoStats are a UDPEcho's counters.
type UDPEchoStats struct {
	Messages, Bytes int64 // datagrams (and their bytes) received and sent back
	// SendErrors counts echoes whose SendTo failed (such as ENOBUFS or
	// EAGAIN under a full send buffer): UDP drops them, and so does the
	// server, which goes on receiving. LastSendError is the last one.
	SendErrors    int64
	LastSendError error
}

// NewUDPEcho returns the echo server of loop on the UDP socket fd (see
// ioloop.ListenUDP), with depth receives in flight, each into bufSize
// bytes: a longer datagram is echoed truncated to bufSize, since a receive
// copies at most its buffer of one datagram. Start starts it; closing the
// loop stops it. The caller closes fd after the loop.
func NewUDPEcho(loop *ioloop.Loop, fd, depth, bufSize int) *UDPEcho {
	s := &UDPEcho{Loop: loop, FD: fd, slots: make([]udpSlot, depth)}
	// One allocation for every slot's buffer: the slots' buffers are the
	// server's whole memory, allocated before the first datagram.
	bufs := make([]byte, depth*bufSize)
	for i := range s.slots {
		s.slots[i] = udpSlot{srv: s, buf: bufs[i*bufSize : (i+1)*bufSize : (i+1)*bufSize]}
	}
	return s
}

// Start submits every slot's first receive, or the multishot receive.
func (s *UDPEcho) Start() {
	if s.pool != nil {
		ioloop.RecvFromMultishot(s.Loop, &s.recv, s.FD, s.pool, s, (*UDPEcho).onDatagram)
		return
	}
	for i := range s.slots {
		s.slots[i].recv()
	}
}

// Stats returns the counters so far.
func (s *UDPEcho) Stats() UDPEchoStats {
	return UDPEchoStats{Messages: s.messages, Bytes: s.bytes, SendErrors: s.sendErrors, LastSendError: s.lastSend}
}

// Fatal is the receive error that stopped the server, or nil. A receive
// fails only when the socket does (a datagram socket has no end of stream
// and no per-peer errors unless connected), so one failure stops the
// server rather than making every slot spin on it.
func (s *UDPEcho) Fatal() error { return s.fatal }

func (slot *udpSlot) recv() {
	ioloop.RecvFrom(slot.srv.Loop, &slot.op, slot.srv.FD, slot.buf, slot, (*udpSlot).onRecv)
}

func (slot *udpSlot) onRecv(_ *ioloop.Completion, n int, from netip.AddrPort, err error) {
	s := slot.srv
	if err != nil {
		if !stopping(err) && s.fatal == nil {
			s.fatal = err
		}
		return
	}
	ioloop.SendTo(s.Loop, &slot.op, s.FD, slot.buf[:n], from, slot, (*udpSlot).onSent)
}

func (slot *udpSlot) onSent(_ *ioloop.Completion, n int, err error) {
	if slot.srv.countSend(n, err) {
		slot.recv()
	}
}

// countSend counts one echo's result and reports whether the server goes
// on receiving.
func (s *UDPEcho) countSend(n int, err error) bool {
	switch {
	case stopping(err):
		return false
	case err != nil:
		s.sendErrors++
		s.lastSend = err
	default:
		s.messages++
		s.bytes += int64(n)
	}
	return s.fatal == nil
}

// stopping reports whether err ends an operation because the loop is
// closing: the slot then has nothing left to do.
func stopping(err error) bool {
	return errors.Is(err, ioloop.ErrCanceled) || errors.Is(err, ioloop.ErrClosed)
}

// udpSend is one echo in flight of a multishot UDPEcho: its Completion and
// the pool buffer it sends from, released when the send is done.
type udpSend struct {
	srv *UDPEcho
	op  ioloop.Completion
	buf []byte
}

// NewUDPEchoMultishot returns the echo server of loop on the UDP socket fd
// that receives with one RecvFromMultishot into a BufferPool of buffers
// buffers, each holding a datagram of up to bufSize bytes (and the 44
// bytes of its sender: ioloop.RecvFromMultishot), instead of Depth
// RecvFroms each waiting with a buffer of its own: one receive waits on
// the socket however many datagrams are in flight. Each datagram is sent
// back from its pool buffer, with one of buffers send Completions made
// here (a datagram being sent holds a buffer, so there is always one
// free). Start starts it; closing the loop stops it and closes the pool.
func NewUDPEchoMultishot(loop *ioloop.Loop, fd, buffers, bufSize int) (*UDPEcho, error) {
	pool, err := ioloop.NewBufferPool(loop, buffers, bufSize+44)
	if err != nil {
		return nil, err
	}
	s := &UDPEcho{Loop: loop, FD: fd, pool: pool}
	sends := make([]udpSend, buffers)
	s.freeSends = make([]*udpSend, buffers)
	for i := range sends {
		sends[i].srv = s
		s.freeSends[i] = &sends[i]
	}
	return s, nil
}

func (s *UDPEcho) onDatagram(_ *ioloop.Completion, buf []byte, from netip.AddrPort, err error) {
	if err != nil {
		if !stopping(err) && s.fatal == nil {
			s.fatal = err
		}
		return
	}
	n := len(s.freeSends)
	if n == 0 {
		panic("serve: UDPEcho: a datagram arrived with every send in flight, which the pool's size rules out")
	}
	snd := s.freeSends[n-1]
	s.freeSends = s.freeSends[:n-1]
	snd.buf = buf
	ioloop.SendTo(s.Loop, &snd.op, s.FD, buf, from, snd, (*udpSend).onSent)
}

func (snd *udpSend) onSent(_ *ioloop.Completion, n int, err error) {
	s := snd.srv
	s.pool.Release(snd.buf)
	snd.buf = nil
	s.freeSends = append(s.freeSends, snd)
	s.countSend(n, err)
}
