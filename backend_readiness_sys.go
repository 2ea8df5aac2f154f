//go:build linux || darwin || freebsd || netbsd || openbsd

package ioloop

// The thin per-OS system calls the readiness backend and its file workers
// make (backend_readiness_sys_linux.go; backend_readiness_sys_bsd.go for
// what macOS and the BSDs share, backend_readiness_sys_darwin.go and
// backend_readiness_sys_notdarwin_bsd.go for where they differ). Each
// returns a count or 0 and an errno, never allocates on Linux, and never
// raises SIGPIPE:
//
//	sysRecv(fd int, buf []byte) (int, syscall.Errno)
//	sysSend(fd int, buf []byte) (int, syscall.Errno)
//	sysAccept(listenFD int) (int, syscall.Errno)   // non-blocking, close-on-exec
//	sysConnect(fd int, sa *unix.RawSockaddrAny, size uint32) syscall.Errno
//	sysSocketError(fd int) syscall.Errno           // SO_ERROR after a connect
//	sysShutdown(fd, how int) syscall.Errno
//	sysClose(fd int) syscall.Errno
//	sysRead(fd int, buf []byte) (int, syscall.Errno)
//	sysWrite(fd int, buf []byte) (int, syscall.Errno)
//	sysPread(fd int, buf []byte, offset int64) (int, syscall.Errno)
//	sysPwrite(fd int, buf []byte, offset int64) (int, syscall.Errno)
//	sysReadv(fd int, iovecs []unix.Iovec, bufs [][]byte, offset int64) (int, syscall.Errno)   // offset < 0: current position
//	sysWritev(fd int, iovecs []unix.Iovec, bufs [][]byte, offset int64) (int, syscall.Errno)
//	sysFsync(fd int, datasync bool) syscall.Errno  // darwin: F_FULLFSYNC
//	sysOpenat(dirfd int, pathNUL []byte, flags int, mode uint32) (int, syscall.Errno)
//	sysStatx(dirfd int, pathNUL []byte, flags, mask int, stat *statxBuffer) syscall.Errno  // Linux only; ENOSYS elsewhere
//
// The kernel's readiness interface itself (epoll, kqueue) is package
// internal/poller, which never sees a Completion.
