package ioloop

import "golang.org/x/sys/unix"

// hugeBufferFlags maps hugeBuffer's memory without charging it against
// Linux's overcommit limit (MAP_NORESERVE), so that buffers of several
// GiB can be mapped on small machines.
const hugeBufferFlags = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_NORESERVE
