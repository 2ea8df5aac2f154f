//go:build !windows

package ioloop

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// OpenDirect opens path for direct I/O (bypassing the page cache: O_DIRECT,
// or F_NOCACHE on macOS) with open(2) flags and perm. It probes whether
// the filesystem honours O_DIRECT, where open accepts the flag but I/O
// would fail, and either fails or falls back to buffered I/O, as fallback
// says. On OpenBSD, which has no direct I/O, DirectRequired fails with an
// error matching errors.ErrUnsupported and DirectOrBuffered opens the file
// buffered.
func OpenDirect(path string, flags int, perm uint32, fallback DirectFallback) (DirectFile, error) {
	flags |= unix.O_CLOEXEC
	fd, err := openDirect(path, flags, perm)
	if err == nil {
		file := DirectFile{FD: fd, Direct: true, MemoryAlignBytes: DirectAlignment, OffsetAlignBytes: DirectAlignment}
		probeDirectAlignment(&file)
		if probeErr := probeDirectRead(fd, flags, file); probeErr == nil {
			return file, nil
		} else if fallback == DirectRequired {
			unix.Close(fd)
			return DirectFile{FD: -1}, probeErr
		}
		unix.Close(fd)
	} else if (err != syscall.EINVAL && err != errNoDirectIO) || fallback == DirectRequired {
		return DirectFile{FD: -1}, err
	}
	fd, err = unix.Open(path, flags, perm)
	if err != nil {
		return DirectFile{FD: -1}, err
	}
	return DirectFile{FD: fd, Direct: false, MemoryAlignBytes: 1, OffsetAlignBytes: 1}, nil
}

// errNoDirectIO is what openDirect returns on a system without direct I/O.
var errNoDirectIO = fmt.Errorf("ioloop: OpenDirect: %s has no direct I/O: %w", runtime.GOOS, errors.ErrUnsupported)

// probeDirectRead reads one aligned block: some filesystems accept O_DIRECT
// at open and reject the I/O with EINVAL.
func probeDirectRead(fd int, flags int, file DirectFile) error {
	if flags&unix.O_ACCMODE == unix.O_WRONLY {
		return nil // nothing to probe with; the first write will tell
	}
	size := max(file.OffsetAlignBytes, file.MemoryAlignBytes, DirectAlignment)
	buf := AlignedBuffer(size, max(file.MemoryAlignBytes, DirectAlignment))
	_, err := unix.Pread(fd, buf, 0)
	return err
}
