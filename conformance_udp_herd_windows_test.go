package ioloop

import (
	"net/netip"
	"sync/atomic"

	"golang.org/x/sys/windows"
)

// herdClient sends window datagrams to the server and reads the replies
// back (waiting at most 100 ms for each: UDP may drop), until stop. It
// uses blocking Winsock calls: the net package's UDP sockets fail under
// wine (WSAIoctl SIO_UDP_CONNRESET: WSAEOPNOTSUPP).
func herdClient(to netip.AddrPort, window int, stop *atomic.Bool) error {
	s, err := windows.Socket(windows.AF_INET, windows.SOCK_DGRAM, windows.IPPROTO_UDP)
	if err != nil {
		return err
	}
	defer windows.Closesocket(s)
	if err := windows.Connect(s, &windows.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}); err != nil {
		return err
	}
	// SO_RCVTIMEO is a DWORD of milliseconds on Windows.
	if err := windows.SetsockoptInt(s, windows.SOL_SOCKET, windows.SO_RCVTIMEO, 100); err != nil {
		return err
	}
	payload := make([]byte, 64)
	reply := make([]byte, 128)
	for !stop.Load() {
		for range window {
			if _, err := rawWrite(int(s), payload); err != nil {
				return err
			}
		}
		for range window {
			if _, _, err := windows.Recvfrom(s, reply, 0); err != nil && err != windows.WSAETIMEDOUT {
				return err
			}
		}
	}
	return nil
}
