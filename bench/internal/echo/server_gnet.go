package echo

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/panjf2000/gnet/v2"
)

// gnetEcho is gnet's echo handler: everything that arrived goes back.
// gnet reads into one buffer shared by all connections of its event loop
// and keeps bytes for a connection only when the handler leaves them.
type gnetEcho struct {
	gnet.BuiltinEventEngine
	addr netip.AddrPort
}

func (h *gnetEcho) OnBoot(gnet.Engine) gnet.Action {
	Announce(h.addr)
	return gnet.None
}

func (h *gnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// serveGnet runs one gnet event loop (NumEventLoop 1). With ReusePort the
// loop owns the listener and accepts itself, so the whole server is one
// goroutine on epoll, like ioloop's.
func serveGnet() error {
	addr, err := freePort()
	if err != nil {
		return err
	}
	h := &gnetEcho{addr: addr}
	return gnet.Run(h, "tcp://"+addr.String(),
		gnet.WithNumEventLoop(1),
		gnet.WithReusePort(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(quietLogger{}))
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
