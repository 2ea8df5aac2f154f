//go:build !windows

package ioloop

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
)

// herdClient sends window datagrams to the server and reads the replies
// back (waiting at most 100 ms for each: UDP may drop), until stop.
func herdClient(to netip.AddrPort, window int, stop *atomic.Bool) error {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		return err
	}
	defer conn.Close()
	payload := make([]byte, 64)
	reply := make([]byte, 128)
	for !stop.Load() {
		for range window {
			if _, err := conn.Write(payload); err != nil {
				return err
			}
		}
		for range window {
			if err := conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
				return err
			}
			if _, err := conn.Read(reply); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return err
			}
		}
	}
	return nil
}
