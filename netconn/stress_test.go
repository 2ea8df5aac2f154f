package netconn

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"golang.org/x/net/nettest"
)

// TestManyConnections runs 100 echo connections at once through one
// Network, each a request/response sequence with a deadline moved before
// every exchange, as net/http does: no hand-over is lost or crossed.
func TestManyConnections(t *testing.T) {
	const conns, exchanges = 100, 50
	forEachBackend(t, func(t *testing.T, nw *Network) {
		ln, err := nw.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					io.Copy(c, c)
				}()
			}
		}()
		var wg sync.WaitGroup
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := nw.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Errorf("Dial: %v", err)
					return
				}
				defer c.Close()
				var out, in [16]byte
				for j := range exchanges {
					c.SetDeadline(time.Now().Add(30 * time.Second))
					binary.LittleEndian.PutUint64(out[:], uint64(i))
					binary.LittleEndian.PutUint64(out[8:], uint64(j))
					if _, err := c.Write(out[:]); err != nil {
						t.Errorf("Write: %v", err)
						return
					}
					if _, err := io.ReadFull(c, in[:]); err != nil {
						t.Errorf("Read: %v", err)
						return
					}
					if in != out {
						t.Errorf("connection %d exchange %d: got %x, want %x", i, j, in, out)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}

// TestUnlockedThread runs the conformance suite on a Network whose loop
// runs on an ordinary goroutine (the others lock theirs to their thread:
// on io_uring SINGLE_ISSUER and DEFER_TASKRUN, which the kernel enforces).
func TestUnlockedThread(t *testing.T) {
	for _, b := range testBackends() {
		t.Run(b.String(), func(t *testing.T) {
			nw := newTestNetwork(t, Options{Loop: ioloop.Options{Backend: b}, UnlockedThread: true})
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) { return pipe(t, nw) })
		})
	}
}
