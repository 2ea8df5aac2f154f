// Package echo holds the TCP echo servers under test, one per contender,
// and the load generator that drives all of them the same way.
//
// Every server echoes whatever it receives on every connection, reading
// into a buffer of BufSize bytes, and runs until it is killed. A server
// prints "listening ADDR" on stdout once it accepts connections.
package echo

import (
	"fmt"
	"net/netip"
)

// BufSize is the receive buffer of every server that keeps one per
// connection: big enough for the largest message of the suite.
const BufSize = 4096

// Servers lists the contenders of the echo workloads, in table order.
// The ioloop contenders run `ioloop echo`'s servers: ioloop-io_uring and
// ioloop-epoll its default, connections sharing a BufferPool, accepted by
// one AcceptMultishot and each served by one RecvMultishot
// (serveIOLoopPooled); the -recv contenders its plain variant (`ioloop
// echo -pool 0`), a buffer per connection and Recv then Send
// (serveIOLoop), so that the chart shows what the pool buys.
var Servers = []string{"ioloop-io_uring", "ioloop-epoll", "ioloop-io_uring-recv", "ioloop-epoll-recv", "gonet", "gnet", "go-uring"}

// PoolBuffers is the pool of the pooled contenders: buffers of BufSize
// bytes, shared by all connections of a loop. A buffer is held only from
// an arrival until its echo is sent, so this covers far more connections
// than it has buffers; a receive that finds none waits for one. Fewer
// buffers also mean fewer pages touched: the ring hands them out in turn
// (see docs/BENCHMARKS.md, "Buffer pools and multishot receive").
const PoolBuffers = 64

// ioloopServer is what an ioloop contender's name says: its backend, and
// whether it is the pooled (default) or the plain variant.
type ioloopServer struct {
	uring, pooled bool
}

var ioloopServers = map[string]ioloopServer{
	"ioloop-io_uring":      {uring: true, pooled: true},
	"ioloop-epoll":         {uring: false, pooled: true},
	"ioloop-io_uring-recv": {uring: true, pooled: false},
	"ioloop-epoll-recv":    {uring: false, pooled: false},
}

// Serve runs the echo server impl on a free port of 127.0.0.1. loops > 0
// runs the ioloop server as an ioloop.Group of that many loops (see
// serveIOLoopGroup), each pinned to a CPU of the process's own when pin is
// set; other servers reject it.
func Serve(impl string, loops int, pin bool) error {
	if s, ok := ioloopServers[impl]; ok {
		switch {
		case loops > 0:
			return serveIOLoopGroup(s, loops, pin)
		case s.pooled:
			return serveIOLoopPooled(s.uring)
		default:
			return serveIOLoop(s.uring)
		}
	}
	if loops > 0 {
		return fmt.Errorf("echo server %q has no loops to set (only the ioloop servers)", impl)
	}
	switch impl {
	case "gonet":
		return serveGoNet()
	case "gnet":
		return serveGnet()
	case "go-uring":
		return serveGoURing()
	}
	return fmt.Errorf("unknown echo server %q (want one of %v)", impl, Servers)
}

// Announce tells the parent of a server child where it listens (the
// suite reads this line); every workload's servers use it.
func Announce(addr netip.AddrPort) {
	fmt.Printf("listening %s\n", addr)
}

// loopback is where every server listens: port 0, any free port.
var loopback = netip.MustParseAddrPort("127.0.0.1:0")
