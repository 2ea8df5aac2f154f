// Package udp is the suite's UDP echo workload: the UDP echo servers under
// test, one per contender, and the load generator that drives all of them
// the same way.
//
// Every server sends each datagram it receives back to its sender, on one
// socket bound to a free port of 127.0.0.1 with a receive buffer of
// ReceiveBufferBytes, and runs until it is killed. Like the TCP echo
// servers (package echo), a server prints "listening ADDR" on stdout once
// it receives, so the suite's runner starts and measures both kinds the
// same way.
package udp

import (
	"github.com/ioloop/ioloop/bench/internal/echo"

	"fmt"
	"net/netip"
)

// Contenders lists the UDP echo servers, in table order. The -multishot
// contenders are `ioloop echo -udp -pool MultishotBuffers`: one
// RecvFromMultishot into a BufferPool instead of depth RecvFroms.
var Contenders = []string{"ioloop-io_uring", "ioloop-epoll", "ioloop-io_uring-multishot", "ioloop-epoll-multishot", "gonet", "gnet"}

// MultishotBuffers is the pool of the -multishot contenders: twice the
// most datagrams the workload has in flight (64 clients × 4), so that a
// datagram rarely waits for a buffer.
const MultishotBuffers = 512

// ReceiveBufferBytes is every server socket's SO_RCVBUF: datagrams wait
// there while the server is busy, and beyond it the kernel drops them.
// Linux caps it at net.core.rmem_max.
const ReceiveBufferBytes = 4 << 20

// BufSize is the receive buffer of every server, per receive: far more
// than the workload's datagrams, so that none is truncated.
const BufSize = 2048

// DefaultDepth is the ioloop servers' receives in flight when the suite
// does not say otherwise: `ioloop echo -udp`'s default.
const DefaultDepth = 64

// Serve runs the UDP echo server impl on a free port of 127.0.0.1; depth
// is the ioloop servers' receives in flight (the others have one
// receiving goroutine or event loop, and reject any other than 0).
func Serve(impl string, depth int) error {
	if depth != 0 && impl != "ioloop-io_uring" && impl != "ioloop-epoll" {
		return fmt.Errorf("udp server %q has no receive depth to set (only ioloop-io_uring and ioloop-epoll)", impl)
	}
	if depth == 0 && (impl == "ioloop-io_uring" || impl == "ioloop-epoll") {
		depth = DefaultDepth
	}
	switch impl {
	case "ioloop-io_uring":
		return serveIOLoop(true, depth)
	case "ioloop-epoll":
		return serveIOLoop(false, depth)
	case "ioloop-io_uring-multishot":
		return serveIOLoop(true, 0)
	case "ioloop-epoll-multishot":
		return serveIOLoop(false, 0)
	case "gonet":
		return serveGoNet()
	case "gnet":
		return serveGnet()
	}
	return fmt.Errorf("unknown udp server %q (want one of %v)", impl, Contenders)
}

// announce tells the parent where the server receives, in the line every
// workload's servers print (echo.Announce).
func announce(addr netip.AddrPort) { echo.Announce(addr) }

// loopback is where every server binds: port 0, any free port.
var loopback = netip.MustParseAddrPort("127.0.0.1:0")
