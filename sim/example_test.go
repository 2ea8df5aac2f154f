package sim_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/sim"
)

type greeter struct {
	l      *ioloop.Loop
	fd     int
	op     ioloop.Completion
	buf    [64]byte
	answer string
}

// Two nodes: one listens, the other waits an hour, connects and says
// hello. Virtual time jumps, so the hour costs nothing, and running the
// same seed again gives the same trace.
func Example() {
	run := func(seed uint64) (answer, traceHash string) {
		w := sim.NewWorld(sim.Options{Seed: seed})
		server, client := w.AddNode("server"), w.AddNode("client")

		lfd, bound, err := server.Loop().ListenTCP(netip.AddrPortFrom(server.Addr(), 80), ioloop.ListenOptions{})
		if err != nil {
			panic(err)
		}
		s := &greeter{l: server.Loop()}
		ioloop.Accept(s.l, &s.op, lfd, s, func(s *greeter, _ *ioloop.Completion, fd int, err error) {
			ioloop.Recv(s.l, &s.op, fd, s.buf[:], s, func(s *greeter, _ *ioloop.Completion, n int, err error) {
				s.answer = string(s.buf[:n])
			})
		})

		c := &greeter{l: client.Loop()}
		c.fd, _ = c.l.TCPSocket(bound)
		ioloop.Timeout(c.l, &c.op, time.Hour, c, func(c *greeter, _ *ioloop.Completion, _ error) {
			ioloop.Connect(c.l, &c.op, c.fd, bound, c, func(c *greeter, _ *ioloop.Completion, err error) {
				hello := "hello at " + c.l.Now().Format(time.TimeOnly)
				ioloop.Send(c.l, &c.op, c.fd, []byte(hello), c, func(*greeter, *ioloop.Completion, int, error) {})
			})
		})

		w.RunUntil(2*time.Hour, func() bool { return s.answer != "" })
		return s.answer, w.TraceHash()
	}
	answer, first := run(42)
	_, again := run(42)
	fmt.Println(answer)
	fmt.Println("same seed, same trace:", first == again)
	// Output:
	// hello at 01:00:00
	// same seed, same trace: true
}
