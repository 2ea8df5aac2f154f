//go:build !windows

package ioloop

import "syscall"

// errnoError is the error a callback gets for errno: the errno itself.
// (On Windows it may also carry the Windows code: errors_windows.go.)
func errnoError(errno syscall.Errno) error { return errno }

// plainErrno is errno: only Windows' errnos carry more (errors_windows.go).
func plainErrno(errno syscall.Errno) syscall.Errno { return errno }
