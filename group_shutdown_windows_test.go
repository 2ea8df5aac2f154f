package ioloop

import "golang.org/x/sys/windows"

// The helpers of group_shutdown_test.go that differ by system, for
// Windows.

// idleStreamPair returns a connected loopback TCP pair that nothing
// writes to (ioloop has no unix sockets on Windows), made with blocking
// Winsock calls: it runs where no loop can be driven (a Group's init).
// Both sockets are overlapped (the accepted one inherits the listener's
// attributes) and associated with no port, so a loop can take them.
func idleStreamPair() ([2]int, error) {
	lfd, addr, err := ListenTCP(loopback4, ListenOptions{})
	if err != nil {
		return [2]int{}, err
	}
	defer sysCloseFD(lfd)
	cfd, err := TCPSocket(addr)
	if err != nil {
		return [2]int{}, err
	}
	sa := &windows.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	if err := windows.Connect(windows.Handle(cfd), sa); err != nil {
		_ = sysCloseFD(cfd)
		return [2]int{}, err
	}
	s, _, e := procAccept.Call(uintptr(lfd), 0, 0)
	if windows.Handle(s) == windows.InvalidHandle {
		_ = sysCloseFD(cfd)
		return [2]int{}, e
	}
	return [2]int{cfd, int(s)}, nil
}

var procAccept = windows.NewLazySystemDLL("ws2_32.dll").NewProc("accept")

// idlePipe reports no pipe: the package makes no pipes the loop can use
// on Windows (see nonblockingPipe).
func idlePipe() (p [2]int, ok bool, err error) { return p, false, nil }
