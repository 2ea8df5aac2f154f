package udp

import (
	"fmt"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/serve"
)

// serveIOLoop runs the UDP echo server of `ioloop echo -udp` (package
// serve's UDPEcho: depth receives in flight, each RecvFrom into its own
// buffer followed by a SendTo back to the sender; with depth 0, one
// RecvFromMultishot into a pool of MultishotBuffers) on one loop, on this
// goroutine, until killed or until receiving fails.
func serveIOLoop(uring bool, depth int) error {
	backend := ioloop.BackendEpoll
	if uring {
		backend = ioloop.BackendIOUring
	}
	loop, err := ioloop.New(ioloop.Options{Backend: backend})
	if err != nil {
		return err
	}
	fd, addr, err := ioloop.ListenUDP(loopback, ioloop.UDPOptions{ReceiveBufferBytes: ReceiveBufferBytes})
	if err != nil {
		return err
	}
	s := serve.NewUDPEcho(loop, fd, depth, BufSize)
	if depth == 0 {
		if s, err = serve.NewUDPEchoMultishot(loop, fd, MultishotBuffers, BufSize); err != nil {
			return err
		}
	}
	s.Start()
	announce(addr)
	for s.Fatal() == nil {
		if err := loop.RunFor(time.Second); err != nil {
			return err
		}
	}
	return fmt.Errorf("receive: %w", s.Fatal())
}
