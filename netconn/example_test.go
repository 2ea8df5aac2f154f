package netconn_test

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/ioloop/ioloop/netconn"
)

// Example serves net/http through a Network's listener and fetches a page
// with a connection dialed through the same Network: both ends are
// net.Conn values whose I/O runs on one ioloop.Loop.
func Example() {
	nw, err := netconn.New(netconn.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer nw.Close()

	ln, err := nw.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello, World!")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	conn, err := nw.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output: 200 OK Hello, World!
}

// ExampleConn_SetReadDeadline shows a Read that times out: the error is a
// net.Error whose Timeout method reports true, as with the net package.
func ExampleConn_SetReadDeadline() {
	nw, err := netconn.New(netconn.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer nw.Close()
	ln, err := nw.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			io.Copy(io.Discard, c) // never answers
		}
	}()
	conn, err := nw.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = conn.Read(make([]byte, 1))
	fmt.Println(err.(interface{ Timeout() bool }).Timeout())
	// Output: true
}
