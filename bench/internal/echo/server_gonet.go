package echo

import (
	"net"
	"net/netip"
)

// serveGoNet is the idiomatic Go server: an accept loop and a goroutine
// per connection that reads into its own buffer and writes back what it
// read. Go's netpoller (epoll, edge-triggered) parks the goroutine when a
// read would block.
func serveGoNet() error {
	ln, err := net.Listen("tcp", loopback.String())
	if err != nil {
		return err
	}
	Announce(ln.Addr().(*net.TCPAddr).AddrPort())
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go echoConn(conn)
	}
}

func echoConn(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, BufSize)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		if _, err := conn.Write(buf[:n]); err != nil {
			return
		}
	}
}

// freePort finds a port nothing listens on, for a library that cannot
// listen on port 0 and say which port it got.
func freePort() (netip.AddrPort, error) {
	ln, err := net.Listen("tcp", loopback.String())
	if err != nil {
		return netip.AddrPort{}, err
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	return addr, ln.Close()
}
