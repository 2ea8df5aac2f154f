//go:build !linux && !windows

package ioloop

import "golang.org/x/sys/unix"

// hugeBufferFlags maps hugeBuffer's memory. MAP_NORESERVE is Linux's
// opt-out of its overcommit accounting (FreeBSD does not define it); the
// BSDs and macOS commit anonymous memory page by page anyway.
const hugeBufferFlags = unix.MAP_PRIVATE | unix.MAP_ANON
