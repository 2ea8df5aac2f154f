package echo

import (
	"errors"
	"fmt"
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
	// failed, in a group, receives the accept error that stops the server
	// (the loop runs on a goroutine of its own; err is the single loop's).
	failed chan<- error
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
	s.start()
	announce(addr)
	for s.err == nil {
		if err := loop.RunFor(time.Second); err != nil {
			return err
		}
	}
	return s.err
}

func (s *loopServer) start() {
	for i := range s.accepts {
		ioloop.Accept(s.loop, &s.accepts[i], s.lfd, s, (*loopServer).onAccept)
	}
}

// serveIOLoopGroup is the same server on n loops, the "one loop per core"
// architecture the scaling workload measures: an ioloop.Group runs each
// loop on its own locked thread (pinned to the i-th CPU of the process
// when pin is set), and each loop accepts from its own SO_REUSEPORT
// listener, so the kernel spreads connections over the loops and they
// share nothing while serving. It serves until killed, or until a loop
// fails.
func serveIOLoopGroup(uring bool, n int, pin bool) error {
	backend := ioloop.BackendEpoll
	if uring {
		backend = ioloop.BackendIOUring
	}
	fds, addr, err := ioloop.ListenTCPShards(loopback, n, ioloop.ListenOptions{NoDelay: true})
	if err != nil {
		return err
	}
	// An accept error stops the whole server: the parent sees it exit.
	failed := make(chan error, 1)
	g, err := ioloop.StartGroup(ioloop.GroupOptions{Loops: n, Loop: ioloop.Options{Backend: backend}, PinCPUs: pin},
		func(l *ioloop.Loop, i int) error {
			s := &loopServer{loop: l, lfd: fds[i], failed: failed}
			s.start()
			return nil
		})
	if err != nil {
		return err
	}
	announce(addr)
	exited := make(chan error, 1)
	go func() { exited <- g.Wait() }()
	select {
	case err = <-failed:
		return errors.Join(err, g.Shutdown())
	case err = <-exited:
		return fmt.Errorf("the loops stopped: %w", err)
	}
}

func (s *loopServer) onAccept(c *ioloop.Completion, fd int, err error) {
	if err != nil {
		if s.failed != nil {
			select {
			case s.failed <- err:
			default: // an earlier error is already on its way: one stops the server
			}
			return
		}
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
