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
// The -pool contenders are `ioloop echo -pool`: connections share a
// BufferPool, each served by one RecvMultishot (serveIOLoopPooled).
var Servers = []string{"ioloop-io_uring", "ioloop-epoll", "ioloop-io_uring-pool", "ioloop-epoll-pool", "gonet", "gnet", "go-uring"}

// PoolBuffers is the pool of the -pool contenders: buffers of BufSize
// bytes, shared by all connections. A buffer is held only from an
// arrival until its echo is sent, so this covers far more connections
// than it has buffers; a receive that finds none waits for one.
const PoolBuffers = 64

// Serve runs the echo server impl on a free port of 127.0.0.1. loops > 0
// runs the ioloop server as an ioloop.Group of that many loops (see
// serveIOLoopGroup), each pinned to a CPU of the process's own when pin is
// set; other servers reject it.
func Serve(impl string, loops int, pin bool) error {
	if loops > 0 {
		if impl != "ioloop-io_uring" && impl != "ioloop-epoll" {
			return fmt.Errorf("echo server %q has no loops to set (only ioloop-io_uring and ioloop-epoll)", impl)
		}
		return serveIOLoopGroup(impl == "ioloop-io_uring", loops, pin)
	}
	switch impl {
	case "ioloop-io_uring":
		return serveIOLoop(true)
	case "ioloop-epoll":
		return serveIOLoop(false)
	case "ioloop-io_uring-pool":
		return serveIOLoopPooled(true)
	case "ioloop-epoll-pool":
		return serveIOLoopPooled(false)
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
