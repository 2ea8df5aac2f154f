//go:build !windows

package ioloop_test

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"

	"github.com/ioloop/ioloop"
)

// A pooledEcho is an echo server's connection: one RecvMultishot serves
// it for its whole life, and each arrival is sent back from the pool's
// buffer, which goes back to the pool when the Send is done.
type pooledEcho struct {
	loop  *ioloop.Loop
	pool  *ioloop.BufferPool
	fd    int
	recv  ioloop.Completion
	send  ioloop.Completion
	close ioloop.Completion
	out   []byte // the buffer being sent back, nil when none
}

func (e *pooledEcho) onRecv(c *ioloop.Completion, buf []byte, err error) {
	if err != nil {
		// The final callback: io.EOF when the client closed (More is
		// false and buf is nil).
		if err != io.EOF {
			fmt.Println("recv:", err)
		}
		ioloop.Close(e.loop, &e.close, e.fd, e, (*pooledEcho).onClose)
		return
	}
	// A shot: c.More() is true, the receive stays armed. A real server
	// would queue buf if a Send were still in flight; this client waits
	// for each echo before it writes again.
	e.out = buf
	ioloop.Send(e.loop, &e.send, e.fd, buf, e, (*pooledEcho).onSent)
}

func (e *pooledEcho) onSent(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		fmt.Println("send:", err)
	}
	e.pool.Release(e.out) // the buffer is the pool's again
	e.out = nil
}

func (e *pooledEcho) onClose(*ioloop.Completion, error) { fmt.Println("connection closed") }

// A pooledServer accepts with one AcceptMultishot.
type pooledServer struct {
	loop   *ioloop.Loop
	pool   *ioloop.BufferPool
	accept ioloop.Completion
	conns  []*pooledEcho
}

func (s *pooledServer) onAccept(c *ioloop.Completion, fd int, err error) {
	if err != nil {
		fmt.Println("accept ended:", err) // ErrCanceled when the loop closes
		return
	}
	e := &pooledEcho{loop: s.loop, pool: s.pool, fd: fd}
	s.conns = append(s.conns, e)
	ioloop.RecvMultishot(s.loop, &e.recv, fd, s.pool, e, (*pooledEcho).onRecv)
}

// ExampleRecvMultishot is an echo server whose connections share one
// BufferPool: an idle connection holds no buffer, only its Completions,
// and each connection needs a single RecvMultishot for its whole life.
func ExampleRecvMultishot() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	pool, err := ioloop.NewBufferPool(loop, 16, 2048) // 16 buffers of 2 KiB
	if err != nil {
		log.Fatal(err)
	}
	listenFD, addr, err := loop.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ioloop.ListenOptions{})
	if err != nil {
		log.Fatal(err)
	}
	s := &pooledServer{loop: loop, pool: pool}
	ioloop.AcceptMultishot(loop, &s.accept, listenFD, s, (*pooledServer).onAccept)

	done := make(chan string)
	go func() {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			log.Fatal(err)
		}
		reply := make([]byte, 5)
		for _, msg := range []string{"hello", "world"} {
			c.Write([]byte(msg))
			io.ReadFull(c, reply)
			done <- string(reply)
		}
		c.Close()
		close(done)
	}()
	for {
		select {
		case reply, ok := <-done:
			if !ok {
				for len(s.conns) == 0 || s.conns[0].recv.Pending() || s.conns[0].close.Pending() {
					loop.RunFor(1e6)
				}
				fmt.Println("buffers free:", pool.Free(), "of", pool.Count())
				return
			}
			fmt.Println("echoed", reply)
		default:
			loop.RunFor(1e6)
		}
	}
	// Output:
	// echoed hello
	// echoed world
	// connection closed
	// buffers free: 16 of 16
	// accept ended: ioloop: operation canceled
}
