package netconn

import (
	"net"
	"testing"

	"golang.org/x/net/nettest"
)

// TestNettestConn runs golang.org/x/net/nettest's conformance suite for
// net.Conn implementations on each backend, with both ends of the pipe
// ours, and with one end a net.TCPConn of the standard library.
func TestNettestConn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, nw *Network) {
		t.Run("both", func(t *testing.T) {
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) { return pipe(t, nw) })
		})
		t.Run("stdlibPeer", func(t *testing.T) {
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) { return stdlibPeerPipe(nw) })
		})
	})
}

// stdlibPeerPipe returns c1 dialed through nw and c2 accepted by a
// net.Listener of the standard library.
func stdlibPeerPipe(nw *Network) (c1, c2 net.Conn, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	defer ln.Close()
	c1, err = nw.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, nil, err
	}
	c2, err = ln.Accept()
	if err != nil {
		c1.Close()
		return nil, nil, nil, err
	}
	return c1, c2, func() { c1.Close(); c2.Close() }, nil
}
