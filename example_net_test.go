//go:build !windows

package ioloop_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// An acceptor accepts connections one after another on a listening
// socket. A real server would hand each descriptor to a connection of its
// own; this one closes it at once, and closes the listener after two.
type acceptor struct {
	loop     *ioloop.Loop
	listenFD int
	accept   ioloop.Completion
	close    ioloop.Completion
	accepted int
}

func (a *acceptor) start() {
	ioloop.Accept(a.loop, &a.accept, a.listenFD, a, (*acceptor).onAccept)
}

func (a *acceptor) onAccept(_ *ioloop.Completion, fd int, err error) {
	if err != nil {
		fmt.Println("accept:", err) // ErrCanceled if the loop closes first
		return
	}
	a.accepted++
	if peer, err := a.loop.RemoteAddr(fd); err == nil {
		fmt.Println("accepted a connection from", peer.Addr())
	}
	ioloop.Close(a.loop, &a.close, fd, a, (*acceptor).onClose)
}

func (a *acceptor) onClose(_ *ioloop.Completion, err error) {
	if err != nil {
		fmt.Println("close:", err)
	}
	switch {
	case a.accepted < 2:
		a.start() // the next connection
	case a.listenFD >= 0:
		fd := a.listenFD
		a.listenFD = -1
		ioloop.Close(a.loop, &a.close, fd, a, (*acceptor).onClose)
	default:
		fmt.Println("listener closed")
	}
}

// ExampleAccept accepts two connections on a loopback listener, one after
// another, from clients that use Go's net package, then closes the
// listener. Sockets the loop owns are closed with the Close operation.
func ExampleAccept() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	listenFD, addr, err := loop.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ioloop.ListenOptions{})
	if err != nil {
		log.Fatal(err)
	}
	a := &acceptor{loop: loop, listenFD: listenFD}
	a.start()

	for range 2 {
		c, err := net.Dial("tcp", addr.String()) // completes in the listen backlog
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
	}
	if err := loop.Run(); err != nil { // until the listener is closed
		log.Fatal(err)
	}
	// Output:
	// accepted a connection from 127.0.0.1
	// accepted a connection from 127.0.0.1
	// listener closed
}

// A client connects, then receives until the server closes the
// connection, then closes its socket. One Completion serves every step,
// since each is submitted from the previous one's callback.
type client struct {
	loop     *ioloop.Loop
	fd       int
	c        ioloop.Completion
	buf      [16]byte
	received []byte
}

func (cl *client) onConnect(_ *ioloop.Completion, err error) {
	if err != nil {
		fmt.Println("connect:", err) // syscall.ECONNREFUSED, for one
		cl.close()
		return
	}
	cl.recv()
}

func (cl *client) recv() {
	ioloop.Recv(cl.loop, &cl.c, cl.fd, cl.buf[:], cl, (*client).onRecv)
}

func (cl *client) onRecv(_ *ioloop.Completion, n int, err error) {
	if errors.Is(err, io.EOF) {
		fmt.Printf("received %q\n", cl.received)
		cl.close()
		return
	}
	if err != nil {
		fmt.Println("recv:", err)
		cl.close()
		return
	}
	cl.received = append(cl.received, cl.buf[:n]...)
	cl.recv()
}

func (cl *client) close() {
	ioloop.Close(cl.loop, &cl.c, cl.fd, cl, (*client).onClose)
}

func (cl *client) onClose(_ *ioloop.Completion, err error) {
	if err != nil {
		fmt.Println("close:", err)
	}
}

// ExampleConnect connects to a server on loopback, here one written with
// Go's net package that sends a greeting and hangs up, and reads until
// io.EOF.
func ExampleConnect() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("hello from the server"))
		c.Close()
	}()

	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	addr := netip.MustParseAddrPort(ln.Addr().String())
	fd, err := loop.TCPSocket(addr)
	if err != nil {
		log.Fatal(err)
	}
	cl := &client{loop: loop, fd: fd}
	ioloop.Connect(loop, &cl.c, fd, addr, cl, (*client).onConnect)
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	// Output: received "hello from the server"
}

// A requester sends a request, shuts down its sending side to say that
// the request is complete, and then still receives the reply: a half-close.
type requester struct {
	loop  *ioloop.Loop
	fd    int
	c     ioloop.Completion
	buf   [16]byte
	reply []byte
}

func (r *requester) send(request []byte) {
	ioloop.Send(r.loop, &r.c, r.fd, request, r, (*requester).onSend)
}

func (r *requester) onSend(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		fmt.Println("send:", err)
		r.close()
		return
	}
	// Submitted from Send's callback, so that it follows the data.
	ioloop.Shutdown(r.loop, &r.c, r.fd, unix.SHUT_WR, r, (*requester).onShutdown)
}

func (r *requester) onShutdown(_ *ioloop.Completion, err error) {
	if err != nil {
		fmt.Println("shutdown:", err)
		r.close()
		return
	}
	r.recv()
}

func (r *requester) recv() {
	ioloop.Recv(r.loop, &r.c, r.fd, r.buf[:], r, (*requester).onRecv)
}

func (r *requester) onRecv(_ *ioloop.Completion, n int, err error) {
	switch {
	case errors.Is(err, io.EOF):
		fmt.Printf("reply %q\n", r.reply)
		r.close()
	case err != nil:
		fmt.Println("recv:", err)
		r.close()
	default:
		r.reply = append(r.reply, r.buf[:n]...)
		r.recv()
	}
}

func (r *requester) close() {
	ioloop.Close(r.loop, &r.c, r.fd, r, (*requester).onClose)
}

func (r *requester) onClose(_ *ioloop.Completion, err error) {
	if err != nil {
		fmt.Println("close:", err)
	}
}

// ExampleShutdown half-closes a connection: after the request, Shutdown
// with unix.SHUT_WR lets the peer read to end of stream, which is how it
// knows the request is complete, while the reply still comes back on the
// same socket.
func ExampleShutdown() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		log.Fatal(err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil { // the loop's end
		log.Fatal(err)
	}

	// The peer, with blocking I/O on its own goroutine: it reads the whole
	// request, up to end of stream, and replies in upper case.
	peer := os.NewFile(uintptr(fds[1]), "peer")
	go func() {
		defer peer.Close()
		request, err := io.ReadAll(peer)
		if err == nil {
			peer.Write(bytes.ToUpper(request))
		}
	}()

	r := &requester{loop: loop, fd: fds[0]}
	r.send([]byte("hello, server"))
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	// Output: reply "HELLO, SERVER"
}
