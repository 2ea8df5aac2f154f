package netconn

import "golang.org/x/sys/windows"

// closeFD closes a socket outside the loop: closesocket (the IOCP
// backend passes SOCKETs as its fd int).
func closeFD(fd int) { _ = windows.Closesocket(windows.Handle(fd)) }

// shutdownWrite is shutdown with SD_SEND.
func shutdownWrite(fd int) error { return windows.Shutdown(windows.Handle(fd), windows.SHUT_WR) }
