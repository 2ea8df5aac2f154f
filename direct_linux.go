package ioloop

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DirectAlignment is the alignment AlignedBuffer uses by default: the page
// size, which satisfies O_DIRECT on every common filesystem and device.
const DirectAlignment = 4096

// DirectFallback says what OpenDirect does when the filesystem does not
// support O_DIRECT.
type DirectFallback uint8

const (
	// DirectRequired makes OpenDirect fail (EINVAL) without O_DIRECT.
	DirectRequired DirectFallback = iota
	// DirectOrBuffered makes OpenDirect fall back to buffered I/O.
	DirectOrBuffered
)

// DirectFile is a file opened by OpenDirect.
type DirectFile struct {
	// FD is the file descriptor, close-on-exec.
	FD int
	// Direct reports whether O_DIRECT is in effect.
	Direct bool
	// MemoryAlignBytes and OffsetAlignBytes are the alignments O_DIRECT
	// requires of buffer addresses and of file offsets and lengths, from
	// statx(STATX_DIOALIGN) where the kernel reports them (Linux 6.1+),
	// else DirectAlignment.
	MemoryAlignBytes int
	OffsetAlignBytes int
}

// OpenDirect opens path for direct I/O (O_DIRECT, bypassing the page
// cache) with open(2) flags and perm. It probes whether the filesystem
// honours O_DIRECT, where open accepts the flag but I/O would fail, and
// either fails or falls back to buffered I/O, as fallback says.
func OpenDirect(path string, flags int, perm uint32, fallback DirectFallback) (DirectFile, error) {
	flags |= unix.O_CLOEXEC
	fd, err := unix.Open(path, flags|unix.O_DIRECT, perm)
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
	} else if err != syscall.EINVAL || fallback == DirectRequired {
		return DirectFile{FD: -1}, err
	}
	fd, err = unix.Open(path, flags, perm)
	if err != nil {
		return DirectFile{FD: -1}, err
	}
	return DirectFile{FD: fd, Direct: false, MemoryAlignBytes: 1, OffsetAlignBytes: 1}, nil
}

// probeDirectAlignment asks the kernel for the O_DIRECT alignment rules.
func probeDirectAlignment(file *DirectFile) {
	var stat unix.Statx_t
	if unix.Statx(file.FD, "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &stat) != nil {
		return
	}
	if stat.Mask&unix.STATX_DIOALIGN == 0 || stat.Dio_mem_align == 0 {
		return
	}
	file.MemoryAlignBytes = int(stat.Dio_mem_align)
	file.OffsetAlignBytes = int(stat.Dio_offset_align)
}

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

// AlignedBuffer returns a zeroed buffer of sizeBytes whose first byte is
// aligned to alignBytes (a power of two; 0 means DirectAlignment), as
// O_DIRECT requires. Go's heap does not move objects, so the alignment
// holds for the buffer's lifetime.
func AlignedBuffer(sizeBytes, alignBytes int) []byte {
	if alignBytes == 0 {
		alignBytes = DirectAlignment
	}
	if alignBytes < 0 || alignBytes&(alignBytes-1) != 0 {
		panic("ioloop: AlignedBuffer alignment must be a power of two")
	}
	if sizeBytes < 0 {
		panic("ioloop: AlignedBuffer with a negative size")
	}
	raw := make([]byte, sizeBytes+alignBytes)
	misalignment := int(uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & uintptr(alignBytes-1))
	start := 0
	if misalignment != 0 {
		start = alignBytes - misalignment
	}
	return raw[start : start+sizeBytes : start+sizeBytes]
}

// IsAligned reports whether buf starts at a multiple of alignBytes.
func IsAligned(buf []byte, alignBytes int) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%uintptr(alignBytes) == 0
}
