package ioloop

import (
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// OpenDirect opens path for direct I/O, bypassing Windows' file cache:
// CreateFile with FILE_FLAG_NO_BUFFERING, as OpenAt opens it with
// O_DIRECT (flags and perm are open(2)'s, with Linux's values, as OpenAt
// takes them on Windows; the handle is overlapped and not inheritable).
// It then reads one aligned block, as on Linux, since a file system may
// accept the flag and refuse the I/O; where the open or that read is
// refused with EINVAL (ERROR_INVALID_PARAMETER), DirectRequired fails
// with it and DirectOrBuffered opens the file again without the flag.
// Close FD with Close or windows.CloseHandle.
func OpenDirect(path string, flags int, perm uint32, fallback DirectFallback) (DirectFile, error) {
	if strings.IndexByte(path, 0) >= 0 {
		return DirectFile{FD: -1}, syscall.EINVAL // as open(2) refuses the name, and CreateFile would cut it
	}
	pathNUL := append([]byte(path), 0)
	var buf []uint16
	h, errno := openWindowsFile(&buf, sysAT_FDCWD, pathNUL, uint32(flags)|sysO_DIRECT, perm)
	if errno == 0 {
		file := DirectFile{FD: int(h), Direct: true, MemoryAlignBytes: DirectAlignment, OffsetAlignBytes: DirectAlignment}
		probeDirectAlignment(&file)
		errno = probeDirectReadWindows(h, flags, file)
		if errno == 0 {
			return file, nil
		}
		windows.CloseHandle(h)
	}
	// openWindowsFile's errno carries the Windows code (plainErrno reads
	// the name; errnoError makes the *WindowsError a caller gets).
	if plainErrno(errno) != syscall.EINVAL || fallback == DirectRequired {
		return DirectFile{FD: -1}, errnoError(errno)
	}
	h, errno = openWindowsFile(&buf, sysAT_FDCWD, pathNUL, uint32(flags)&^sysO_DIRECT, perm)
	if errno != 0 {
		return DirectFile{FD: -1}, errnoError(errno)
	}
	return DirectFile{FD: int(h), Direct: false, MemoryAlignBytes: 1, OffsetAlignBytes: 1}, nil
}

// fileStorageInfo is FILE_STORAGE_INFO (GetFileInformationByHandleEx
// class FileStorageInfo, Windows 8 and later).
type fileStorageInfo struct {
	LogicalBytesPerSector                                 uint32
	PhysicalBytesPerSectorForAtomicity                    uint32
	PhysicalBytesPerSectorForPerformance                  uint32
	FileSystemEffectivePhysicalBytesPerSectorForAtomicity uint32
	Flags                                                 uint32
	ByteOffsetForSectorAlignment                          uint32
	ByteOffsetForPartitionAlignment                       uint32
}

// fileStorageInfoClass is FILE_INFO_BY_HANDLE_CLASS's FileStorageInfo.
const fileStorageInfoClass = 16

// probeDirectAlignment asks for the sector sizes FILE_FLAG_NO_BUFFERING
// requires: offsets and lengths in whole logical sectors (the volume's
// sector size), buffers aligned to the physical sector. Where Windows
// cannot say (before Windows 8; wine 8.0 answers STATUS_NOT_IMPLEMENTED),
// or says something that is no power of two, the file keeps
// DirectAlignment, a multiple of every common sector size.
func probeDirectAlignment(file *DirectFile) {
	var info fileStorageInfo
	if windows.GetFileInformationByHandleEx(windows.Handle(file.FD), fileStorageInfoClass,
		(*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))) != nil {
		return
	}
	logical, physical := int(info.LogicalBytesPerSector), int(max(info.PhysicalBytesPerSectorForPerformance, info.LogicalBytesPerSector))
	if logical <= 0 || logical&(logical-1) != 0 || physical&(physical-1) != 0 {
		return
	}
	file.OffsetAlignBytes, file.MemoryAlignBytes = logical, physical
}

// probeDirectReadWindows reads one aligned block at offset 0 (the end of
// an empty file is a success), waiting on its own event: the handle is
// overlapped and belongs to no completion port yet, so its end posts
// no packet anywhere.
func probeDirectReadWindows(h windows.Handle, flags int, file DirectFile) syscall.Errno {
	if flags&(sysO_WRONLY|sysO_RDWR) == sysO_WRONLY {
		return 0 // nothing to probe with; the first write will tell
	}
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return windowsErrno(err)
	}
	defer windows.CloseHandle(ev)
	size := max(file.OffsetAlignBytes, file.MemoryAlignBytes, DirectAlignment)
	buf := AlignedBuffer(size, max(file.MemoryAlignBytes, DirectAlignment))
	// The kernel writes the OVERLAPPED and the buffer until the read
	// ends: both on the heap (Pin makes ov escape) and pinned.
	var pin runtime.Pinner
	defer pin.Unpin()
	ov := &windows.Overlapped{HEvent: ev}
	pin.Pin(ov)
	pin.Pin(&buf[0])
	var n uint32
	err = windows.ReadFile(h, buf, &n, ov)
	if err == nil || err == windows.ERROR_IO_PENDING {
		err = windows.GetOverlappedResult(h, ov, &n, true)
	}
	if err == windows.ERROR_HANDLE_EOF {
		return 0
	}
	return windowsErrno(err)
}
