package serve

import "golang.org/x/sys/windows"

// closeFD closes a socket the loop never will: closesocket. Every
// descriptor this package closes outside the loop is a socket (a
// listener or a connection); ioloop passes SOCKETs as its fd int.
func CloseFD(fd int) error { return windows.Closesocket(windows.Handle(fd)) }
