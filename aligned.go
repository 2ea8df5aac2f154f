package ioloop

import "unsafe"

// Aligned buffers, for direct I/O: O_DIRECT on Linux, FreeBSD and NetBSD
// (direct.go), FILE_FLAG_NO_BUFFERING on Windows (OpenAt with O_DIRECT,
// backend_iocp_windows.go), where buffers, offsets and lengths must be
// multiples of the device's sector size.

// DirectAlignment is the alignment AlignedBuffer uses by default: the page
// size, which satisfies O_DIRECT on every common filesystem and device.
const DirectAlignment = 4096

// AlignedBuffer returns a zeroed buffer of sizeBytes whose first byte is
// aligned to alignBytes (a power of two; 0 means DirectAlignment), as
// direct I/O requires. Go's heap does not move objects, so the alignment
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
