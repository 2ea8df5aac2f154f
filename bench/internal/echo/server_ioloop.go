package echo

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/serve"
)

// The ioloop contenders run the echo server of `ioloop echo` (package
// serve): one Completion per connection, which carries Recv, then Send of
// what arrived, then Recv again.

// backendOf is the backend of contender ioloop-io_uring or ioloop-epoll.
func backendOf(uring bool) ioloop.Backend {
	if uring {
		return ioloop.BackendIOUring
	}
	return ioloop.BackendEpoll
}

// serveIOLoop is the server on one loop, on this goroutine. It serves
// until killed, or until accepting fails.
func serveIOLoop(uring bool) error {
	loop, lfd, addr, err := listenIOLoop(uring)
	if err != nil {
		return err
	}
	s := serve.NewEcho(loop, lfd, BufSize)
	return runIOLoop(loop, s, addr)
}

// serveIOLoopPooled is the server of `ioloop echo -pool PoolBuffers` on
// one loop, on this goroutine: serve.PooledEcho.
func serveIOLoopPooled(uring bool) error {
	loop, lfd, addr, err := listenIOLoop(uring)
	if err != nil {
		return err
	}
	s, err := serve.NewPooledEcho(loop, lfd, PoolBuffers, BufSize)
	if err != nil {
		return err
	}
	return runIOLoop(loop, s, addr)
}

// listenIOLoop creates a server's loop and listening socket.
func listenIOLoop(uring bool) (*ioloop.Loop, int, netip.AddrPort, error) {
	loop, err := ioloop.New(ioloop.Options{Backend: backendOf(uring)})
	if err != nil {
		return nil, -1, netip.AddrPort{}, err
	}
	lfd, addr, err := ioloop.ListenTCP(loopback, ioloop.ListenOptions{NoDelay: true})
	return loop, lfd, addr, err
}

// runIOLoop starts s, announces addr, and runs loop until killed or until
// accepting fails.
func runIOLoop(loop *ioloop.Loop, s interface {
	Start()
	Fatal() error
}, addr netip.AddrPort) error {
	s.Start()
	Announce(addr)
	for s.Fatal() == nil {
		if err := loop.RunFor(time.Second); err != nil {
			return err
		}
	}
	return s.Fatal()
}

// serveIOLoopGroup is the same server on n loops, the "one loop per core"
// architecture the scaling workload measures: an ioloop.Group runs each
// loop on its own locked thread (pinned to the i-th CPU of the process
// when pin is set), and each loop accepts from its own SO_REUSEPORT
// listener, so the kernel spreads connections over the loops and they
// share nothing while serving. It serves until killed, or until a loop
// fails.
func serveIOLoopGroup(uring bool, n int, pin bool) error {
	g, addr, err := serve.StartEchoGroup(loopback, n, ioloop.Options{Backend: backendOf(uring)}, pin, BufSize, os.Stderr)
	if err != nil {
		return err
	}
	Announce(addr)
	select {
	case <-g.Failed(): // an accept error stops the whole server: the parent sees it exit
		return errors.Join(errors.New("a loop stopped accepting"), g.Shutdown())
	case <-g.Exited():
		return fmt.Errorf("the loops stopped: %w", g.Shutdown())
	}
}
