package conn

import "syscall"

// Windows has AF_UNIX stream sockets since Windows 10 1803, but the IOCP
// backend does not create them yet, so unix paths fail as the loop's
// ConnectUnix does there.

func listenUnix(string, int) (int, error) { return -1, syscall.EAFNOSUPPORT }

func unixSocket() (int, error) { return -1, syscall.EAFNOSUPPORT }

func removeUnixSocket(string) {}
