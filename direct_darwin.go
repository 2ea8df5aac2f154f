package ioloop

import "golang.org/x/sys/unix"

// openDirect opens path and sets F_NOCACHE, macOS's way to bypass the
// unified buffer cache for a descriptor (it has no O_DIRECT). Aligned
// transfers then go straight to the device; unaligned ones still work,
// through the cache.
func openDirect(path string, flags int, perm uint32) (int, error) {
	fd, err := unix.Open(path, flags, perm)
	if err != nil {
		return -1, err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_NOCACHE, 1); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
