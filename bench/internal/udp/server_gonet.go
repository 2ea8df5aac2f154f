package udp

import (
	"net"
)

// serveGoNet is the idiomatic Go server: one goroutine that reads a
// datagram with ReadFromUDPAddrPort and writes it back with
// WriteToUDPAddrPort, neither of which allocates. Go's netpoller parks the
// goroutine when a read would block.
func serveGoNet() error {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		return err
	}
	if err := conn.SetReadBuffer(ReceiveBufferBytes); err != nil {
		return err
	}
	announce(conn.LocalAddr().(*net.UDPAddr).AddrPort())
	buf := make([]byte, BufSize)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return err
		}
		// A failed send drops the echo, as UDP may; the server goes on.
		_, _ = conn.WriteToUDPAddrPort(buf[:n], from)
	}
}
