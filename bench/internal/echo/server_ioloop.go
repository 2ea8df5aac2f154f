package echo

import (
	"time"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// loopServer is the echo server on ioloop: one Completion per connection,
// which carries Recv, then Send of what arrived, then Recv again.
type loopServer struct {
	loop    *ioloop.Loop
	lfd     int
	accepts [4]ioloop.Completion // a few in flight drain a burst of connects faster
	err     error
}

type loopConn struct {
	srv *loopServer
	fd  int
	op  ioloop.Completion
	buf []byte
}

func serveIOLoop(uring bool) error {
	backend := ioloop.BackendEpoll
	if uring {
		backend = ioloop.BackendIOUring
	}
	loop, err := ioloop.New(ioloop.Options{Backend: backend})
	if err != nil {
		return err
	}
	lfd, addr, err := ioloop.ListenTCP(loopback, ioloop.ListenOptions{NoDelay: true})
	if err != nil {
		return err
	}
	s := &loopServer{loop: loop, lfd: lfd}
	for i := range s.accepts {
		ioloop.Accept(loop, &s.accepts[i], lfd, s, (*loopServer).onAccept)
	}
	announce(addr)
	for s.err == nil {
		if err := loop.RunFor(time.Second); err != nil {
			return err
		}
	}
	return s.err
}

func (s *loopServer) onAccept(c *ioloop.Completion, fd int, err error) {
	if err != nil {
		s.err = err
		return
	}
	conn := &loopConn{srv: s, fd: fd, buf: make([]byte, BufSize)}
	conn.receive()
	ioloop.Accept(s.loop, c, s.lfd, s, (*loopServer).onAccept)
}

func (k *loopConn) receive() {
	ioloop.Recv(k.srv.loop, &k.op, k.fd, k.buf, k, (*loopConn).onRecv)
}

func (k *loopConn) onRecv(c *ioloop.Completion, n int, err error) {
	if err != nil { // io.EOF or a reset: the load generator is done
		unix.Close(k.fd)
		return
	}
	ioloop.Send(k.srv.loop, c, k.fd, k.buf[:n], k, (*loopConn).onSent)
}

func (k *loopConn) onSent(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		unix.Close(k.fd)
		return
	}
	k.receive()
}
