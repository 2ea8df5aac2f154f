package echo

import (
	"errors"
	"net/netip"
	"syscall"

	"github.com/godzie44/go-uring/uring"
	"golang.org/x/sys/unix"
)

// go-uring's echo server, written the way the library's own example server
// is (its uring package is a port of liburing, with no event loop of its
// own): operations prepared once per connection, all new SQEs submitted
// and a completion waited for in one io_uring_enter, CQEs dispatched by
// their user data.

const (
	urAccept = iota
	urRecv
	urSend
	urKindBits = 2 // the kind is the low bits of the user data
)

type urConn struct {
	buf     []byte
	recv    *uring.RecvOp
	send    *uring.SendOp
	pending []byte // what is still to be sent back
}

type urServer struct {
	ring    *uring.Ring
	lfd     int
	accepts []*uring.AcceptOp
	conns   []*urConn // by file descriptor
}

func serveGoURing() error {
	ring, err := uring.New(4096)
	if err != nil {
		return err
	}
	lfd, addr, err := listenBlocking()
	if err != nil {
		return err
	}
	s := &urServer{ring: ring, lfd: lfd}
	for i := range 4 {
		op := uring.Accept(uintptr(lfd), unix.SOCK_CLOEXEC)
		s.accepts = append(s.accepts, op)
		s.queue(op, uint64(i)<<urKindBits|urAccept)
	}
	Announce(addr)
	return s.run()
}

// listenBlocking opens the listening socket as go-uring's example does:
// blocking, since io_uring polls internally.
func listenBlocking() (int, netip.AddrPort, error) {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	for _, opt := range [][2]int{{unix.SOL_SOCKET, unix.SO_REUSEADDR}, {unix.IPPROTO_TCP, unix.TCP_NODELAY}} {
		if err := unix.SetsockoptInt(lfd, opt[0], opt[1], 1); err != nil {
			return -1, netip.AddrPort{}, err
		}
	}
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: loopback.Addr().As4()}); err != nil {
		return -1, netip.AddrPort{}, err
	}
	if err := unix.Listen(lfd, unix.SOMAXCONN); err != nil {
		return -1, netip.AddrPort{}, err
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	in4 := sa.(*unix.SockaddrInet4)
	return lfd, netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), uint16(in4.Port)), nil
}

// queue adds an SQE, submitting first when the SQ is full.
func (s *urServer) queue(op uring.Operation, userData uint64) {
	for s.ring.QueueSQE(op, 0, userData) != nil {
		if _, err := s.ring.Submit(); err != nil && !retryable(err) {
			panic(err)
		}
	}
}

func retryable(err error) bool {
	return errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EBUSY)
}

func (s *urServer) run() error {
	cqes := make([]*uring.CQEvent, 1024)
	for {
		if _, err := s.ring.SubmitAndWaitCQEvents(1); err != nil && !retryable(err) {
			return err
		}
		n := s.ring.PeekCQEventBatch(cqes)
		for _, cqe := range cqes[:n] {
			if err := s.complete(cqe.UserData, cqe.Res); err != nil {
				return err
			}
		}
		s.ring.AdvanceCQ(uint32(n))
	}
}

func (s *urServer) complete(userData uint64, res int32) error {
	index := int(userData >> urKindBits)
	switch userData & (1<<urKindBits - 1) {
	case urAccept:
		if res < 0 {
			return syscall.Errno(-res)
		}
		s.open(int(res))
		s.queue(s.accepts[index], userData)
	case urRecv:
		conn := s.conns[index]
		if res <= 0 { // end of stream or an error: the load generator is done
			unix.Close(index)
			return nil
		}
		conn.pending = conn.buf[:res]
		s.sendRest(index, conn)
	case urSend:
		conn := s.conns[index]
		if res < 0 {
			unix.Close(index)
			return nil
		}
		conn.pending = conn.pending[res:]
		if len(conn.pending) > 0 {
			s.sendRest(index, conn)
			return nil
		}
		s.queue(conn.recv, uint64(index)<<urKindBits|urRecv)
	}
	return nil
}

// open sets up a new connection and submits its first Recv.
func (s *urServer) open(fd int) {
	for fd >= len(s.conns) {
		s.conns = append(s.conns, make([]*urConn, len(s.conns)+64)...)
	}
	conn := s.conns[fd]
	if conn == nil {
		conn = &urConn{buf: make([]byte, BufSize)}
		conn.recv = uring.Recv(uintptr(fd), conn.buf, 0)
		conn.send = uring.Send(uintptr(fd), nil, 0)
		s.conns[fd] = conn
	}
	s.queue(conn.recv, uint64(fd)<<urKindBits|urRecv)
}

func (s *urServer) sendRest(fd int, conn *urConn) {
	conn.send.SetBuffer(conn.pending)
	s.queue(conn.send, uint64(fd)<<urKindBits|urSend)
}
