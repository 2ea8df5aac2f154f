package udp

import (
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/panjf2000/gnet/v2"
)

// gnetEcho is gnet's UDP echo handler: gnet reads each datagram into its
// event loop's buffer and calls OnTraffic with a Conn for the sender;
// Write sends back to it.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	addr netip.AddrPort
}

func (h *gnetEcho) OnBoot(gnet.Engine) gnet.Action {
	announce(h.addr)
	return gnet.None
}

func (h *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	// A failed send drops the echo, as UDP may; the server goes on.
	_, _ = c.Write(buf)
	return gnet.None
}

// serveGnet runs one gnet event loop (NumEventLoop 1) on a udp://
// address: one goroutine on epoll, like the ioloop servers.
func serveGnet() error {
	addr, err := freeUDPPort()
	if err != nil {
		return err
	}
	h := &gnetEcho{addr: addr}
	return gnet.Run(h, "udp://"+addr.String(),
		gnet.WithNumEventLoop(1),
		gnet.WithReusePort(true),
		gnet.WithSocketRecvBuffer(ReceiveBufferBytes),
		gnet.WithLogger(quietLogger{}))
}

// freeUDPPort finds a UDP port nothing is bound to, for gnet, which cannot
// bind port 0 and say which port it got.
func freeUDPPort() (netip.AddrPort, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		return netip.AddrPort{}, err
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return addr, conn.Close()
}

// quietLogger keeps gnet's notices off stdout, where the parent reads
// the "listening" line, and passes on only its errors.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", args...)
	os.Exit(1)
}
