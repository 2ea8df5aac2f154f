package ioloop

import (
	"sync"
	"syscall"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The IOCP backend's answers to the file operations Windows has no call of
// the same name for (Fadvise, Fallocate, Symlinkat, the directory handle of
// the *at calls) and to the cases where Windows' own call answers
// otherwise than Linux (a rename over an existing file, the unlink of a
// directory). Each is a decision, listed in docs/ARCHITECTURE.md
// ("Windows").

// Linux's FALLOC_FL_* mode bits (x/sys/windows has no names): the ones
// the IOCP backend runs (fallocateWindows).
const (
	sysFALLOC_FL_KEEP_SIZE  = 0x1
	sysFALLOC_FL_PUNCH_HOLE = 0x2
	sysFALLOC_FL_ZERO_RANGE = 0x10
)

// posixFadvNoreuse is the largest posix_fadvise(2) advice,
// POSIX_FADV_NOREUSE (5): NORMAL, RANDOM, SEQUENTIAL, WILLNEED, DONTNEED
// and NOREUSE are 0 to 5 on every system that has them.
const posixFadvNoreuse = 5

// fadviseErrno is Fadvise on IOCP, run inline: Windows has no
// posix_fadvise, and POSIX lets a system ignore advice, so it checks
// what posix_fadvise(2) checks (the handle: EBADF; a pipe or a socket:
// ESPIPE; the advice: EINVAL) and does nothing else. The caching hints
// Windows has (FILE_FLAG_SEQUENTIAL_SCAN, FILE_FLAG_RANDOM_ACCESS) are
// fixed when CreateFile opens the file.
func fadviseErrno(h windows.Handle, advice uint32) syscall.Errno {
	kind, err := windows.GetFileType(h)
	if err != nil {
		return windowsErrno(err)
	}
	if kind != windows.FILE_TYPE_DISK {
		return syscall.ESPIPE
	}
	if advice > posixFadvNoreuse {
		return syscall.EINVAL
	}
	return 0
}

// fileStandardInfo is FILE_STANDARD_INFO.
type fileStandardInfo struct {
	AllocationSize int64
	EndOfFile      int64
	NumberOfLinks  uint32
	DeletePending  bool
	Directory      bool
}

// fallocateWindows is Fallocate on IOCP, run on a worker. Mode 0 grows the
// file's allocation (FileAllocationInfo) to offset+length and, when that
// ends past the end of the file, the size (FileEndOfFileInfo), which reads
// as zeros; FALLOC_FL_KEEP_SIZE grows the allocation only. Neither ever
// shrinks anything: the allocation is set only when it is smaller (setting
// it below the size would truncate the file). Windows allocates from the
// start of the file, so a range inside the file is already allocated
// (files are not sparse unless FSCTL_SET_SPARSE made them so).
//
// FALLOC_FL_ZERO_RANGE (with or without KEEP_SIZE) does the same and then
// zeros the part of the range inside the file (zeroRangeWindows).
// FALLOC_FL_PUNCH_HOLE, which Linux takes only with KEEP_SIZE
// (EOPNOTSUPP without), makes the file sparse and deallocates the part of
// the range inside it (punchHoleWindows). Every other mode (collapsing or
// inserting ranges, unsharing, two of these together) is EOPNOTSUPP, as a
// Linux file system without it answers. A handle without write access is
// EBADF, as fallocate(2) says of an fd not open for writing.
func fallocateWindows(h windows.Handle, mode uint32, offset, length int64) syscall.Errno {
	switch mode {
	case 0, sysFALLOC_FL_KEEP_SIZE, sysFALLOC_FL_ZERO_RANGE, sysFALLOC_FL_ZERO_RANGE | sysFALLOC_FL_KEEP_SIZE,
		sysFALLOC_FL_PUNCH_HOLE | sysFALLOC_FL_KEEP_SIZE:
	default:
		return syscall.EOPNOTSUPP
	}
	end := offset + length
	if end < offset {
		return syscall.EFBIG
	}
	var std fileStandardInfo
	if err := windows.GetFileInformationByHandleEx(h, windows.FileStandardInfo,
		(*byte)(unsafe.Pointer(&std)), uint32(unsafe.Sizeof(std))); err != nil {
		return windowsErrno(err)
	}
	if std.Directory {
		return syscall.EISDIR
	}
	if mode&sysFALLOC_FL_PUNCH_HOLE != 0 {
		return writeAccessErrno(punchHoleWindows(h, offset, min(end, std.EndOfFile)))
	}
	set := func(class uint32, size int64) syscall.Errno {
		info := struct{ Size int64 }{size}
		return writeAccessErrno(windowsErrno(windows.SetFileInformationByHandle(h, class,
			(*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))))
	}
	if end > std.AllocationSize {
		errno := set(windows.FileAllocationInfo, end)
		if errno == syscall.Errno(windows.ERROR_CALL_NOT_IMPLEMENTED) || errno == syscall.EOPNOTSUPP {
			// Wine has no FileAllocationInfo (STATUS_NOT_IMPLEMENTED).
			// Without KEEP_SIZE the size is still set below, which on
			// NTFS allocates what it adds (a file is not sparse unless
			// made so); KEEP_SIZE has nothing else to do it with.
			if mode&sysFALLOC_FL_KEEP_SIZE != 0 {
				return syscall.EOPNOTSUPP
			}
			errno = 0
		}
		if errno != 0 {
			return errno
		}
	}
	if mode&sysFALLOC_FL_ZERO_RANGE != 0 && offset < std.EndOfFile {
		if errno := writeAccessErrno(zeroRangeWindows(h, offset, min(end, std.EndOfFile))); errno != 0 {
			return errno
		}
	}
	if mode&sysFALLOC_FL_KEEP_SIZE == 0 && end > std.EndOfFile {
		return set(windows.FileEndOfFileInfo, end)
	}
	return 0
}

// writeAccessErrno is errno as fallocate(2) says it: a handle without
// write access (Windows: ERROR_ACCESS_DENIED) is EBADF.
func writeAccessErrno(errno syscall.Errno) syscall.Errno {
	if errno == syscall.EACCES {
		return syscall.EBADF
	}
	return errno
}

// fileScratch is what a worker's synchronous DeviceIoControl and
// WriteFile on a file handle need: an OVERLAPPED (the handle is
// overlapped; the low bit of the event handle tells the kernel to post no
// packet to the loop's port), the ioctl's input, and zeros to write.
// They are kept for reuse (fileScratches), never freed, so a Fallocate
// allocates nothing after the first of its kind, and the kernel never
// writes into memory the collector could reuse.
type fileScratch struct {
	ov       windows.Overlapped
	event    windows.Handle
	zeroData struct{ FileOffset, BeyondFinalZero int64 } // FILE_ZERO_DATA_INFORMATION
	zeros    [64 << 10]byte
}

// fileScratches holds the fileScratch values no worker is using.
var fileScratches struct {
	sync.Mutex
	free []*fileScratch
}

func getFileScratch() (*fileScratch, syscall.Errno) {
	fileScratches.Lock()
	defer fileScratches.Unlock()
	if n := len(fileScratches.free); n > 0 {
		s := fileScratches.free[n-1]
		fileScratches.free = fileScratches.free[:n-1]
		return s, 0
	}
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return nil, windowsErrno(err)
	}
	return &fileScratch{event: ev}, 0
}

func putFileScratch(s *fileScratch) {
	fileScratches.Lock()
	fileScratches.free = append(fileScratches.free, s)
	fileScratches.Unlock()
}

// wait ends the overlapped call that answered err, as a synchronous
// call's result.
func (s *fileScratch) wait(h windows.Handle, err error, n *uint32) error {
	if err == nil || err == windows.ERROR_IO_PENDING {
		err = windows.GetOverlappedResult(h, &s.ov, n, true)
	}
	return err
}

// ioctl runs the FSCTL code on h with s.zeroData as its input (withInput)
// or none, and waits for it.
func (s *fileScratch) ioctl(h windows.Handle, code uint32, withInput bool) error {
	s.ov = windows.Overlapped{HEvent: s.event | 1}
	var in *byte
	var inSize uint32
	if withInput {
		in, inSize = (*byte)(unsafe.Pointer(&s.zeroData)), uint32(unsafe.Sizeof(s.zeroData))
	}
	var n uint32
	return s.wait(h, windows.DeviceIoControl(h, code, in, inSize, nil, 0, &n, &s.ov), &n)
}

// unsupportedFSCTL reports whether a file system answered an FSCTL it
// does not have (FAT; wine 8.0 for FSCTL_SET_ZERO_DATA).
func unsupportedFSCTL(err error) bool {
	return err == windows.ERROR_NOT_SUPPORTED || err == windows.ERROR_INVALID_FUNCTION
}

// punchHoleWindows is FALLOC_FL_PUNCH_HOLE: FSCTL_SET_SPARSE, then
// FSCTL_SET_ZERO_DATA over [offset, end), which on a sparse file
// deallocates the whole clusters inside it and zeros the rest, so the
// range reads as zeros, as after fallocate(2). A range at or past the end
// of the file has nothing to punch. A file system without the calls
// answers EOPNOTSUPP, as Linux's do; one that has FSCTL_SET_SPARSE only
// (wine 8.0) keeps the sparse attribute it set.
func punchHoleWindows(h windows.Handle, offset, end int64) syscall.Errno {
	if offset >= end {
		return 0
	}
	s, errno := getFileScratch()
	if errno != 0 {
		return errno
	}
	defer putFileScratch(s)
	err := s.ioctl(h, windows.FSCTL_SET_SPARSE, false)
	if err == nil {
		s.zeroData.FileOffset, s.zeroData.BeyondFinalZero = offset, end
		err = s.ioctl(h, windows.FSCTL_SET_ZERO_DATA, true)
	}
	if unsupportedFSCTL(err) {
		return syscall.EOPNOTSUPP
	}
	return windowsErrno(err)
}

// zeroRangeWindows is FALLOC_FL_ZERO_RANGE's zeroing of [offset, end),
// inside the file: FSCTL_SET_ZERO_DATA, which on a file that is not
// sparse writes the zeros in place and keeps the clusters allocated, as
// ZERO_RANGE keeps its blocks (on a sparse file it deallocates them,
// which reads the same). Where the file system has no such call (FAT;
// wine 8.0) the zeros are written with WriteFile, which is what the range
// must read as and leaves it allocated.
func zeroRangeWindows(h windows.Handle, offset, end int64) syscall.Errno {
	s, errno := getFileScratch()
	if errno != 0 {
		return errno
	}
	defer putFileScratch(s)
	s.zeroData.FileOffset, s.zeroData.BeyondFinalZero = offset, end
	err := s.ioctl(h, windows.FSCTL_SET_ZERO_DATA, true)
	if !unsupportedFSCTL(err) {
		return windowsErrno(err)
	}
	for offset < end {
		s.ov = windows.Overlapped{HEvent: s.event | 1, Offset: uint32(offset), OffsetHigh: uint32(uint64(offset) >> 32)}
		var n uint32
		err := s.wait(h, windows.WriteFile(h, s.zeros[:min(end-offset, int64(len(s.zeros)))], &n, &s.ov), &n)
		if err != nil {
			return windowsErrno(err)
		}
		if n == 0 {
			return syscall.EIO // a write that moves nothing would never end the loop
		}
		offset += int64(n)
	}
	return 0
}

// isWindowsDir reports whether path names a directory.
func isWindowsDir(path *uint16) bool {
	attrs, err := windows.GetFileAttributes(path)
	return err == nil && attrs&windows.FILE_ATTRIBUTE_DIRECTORY != 0
}

// fileAttributeTagInfo is FILE_ATTRIBUTE_TAG_INFO
// (GetFileInformationByHandleEx class FileAttributeTagInfo, 9).
type fileAttributeTagInfo struct {
	FileAttributes uint32
	ReparseTag     uint32
}

// isWindowsSymlink reports whether path names a symbolic link itself
// (reparse tag IO_REPARSE_TAG_SYMLINK), for OpenAt's O_NOFOLLOW (ELOOP).
// It opens the reparse point for its attributes only, before the real
// open, so that O_TRUNC or O_CREAT never act on the link: a link made
// between the two is followed, where open(2) would refuse it. Junctions
// and other reparse points are followed, as they are no symbolic links.
func isWindowsSymlink(path *uint16) bool {
	h, err := windows.CreateFile(path, windows.FILE_READ_ATTRIBUTES,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_OPEN_REPARSE_POINT|windows.FILE_FLAG_BACKUP_SEMANTICS, 0)
	if err != nil {
		return false // nothing there (O_CREAT may make it), or the real open says why
	}
	defer windows.CloseHandle(h)
	var info fileAttributeTagInfo
	if err := windows.GetFileInformationByHandleEx(h, windows.FileAttributeTagInfo,
		(*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		return false
	}
	return info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0 && info.ReparseTag == windows.IO_REPARSE_TAG_SYMLINK
}

// dirPathWindows is the path of the directory handle dir, for the *at
// calls given a directory descriptor: GetFinalPathNameByHandle's
// \\?\C:\... form (no length limit, no '/' as a separator). A handle that
// is no directory is ENOTDIR, as openat(2) says.
func dirPathWindows(dir windows.Handle) ([]uint16, syscall.Errno) {
	buf := make([]uint16, windows.MAX_PATH)
	for {
		n, err := windows.GetFinalPathNameByHandle(dir, &buf[0], uint32(len(buf)), 0)
		if err != nil {
			return nil, windowsErrno(err)
		}
		if int(n) < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]uint16, n+1) // n counts the NUL it needs
	}
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(dir, &info); err != nil {
		return nil, windowsErrno(err)
	}
	if info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY == 0 {
		return nil, syscall.ENOTDIR
	}
	return buf, 0
}

// renameWindows is Renameat's move: MoveFileEx with
// MOVEFILE_REPLACE_EXISTING, which replaces an existing file as rename(2)
// does, unless the file is open (Windows refuses with
// ERROR_ACCESS_DENIED, FILE_SHARE_DELETE or not: EACCES). Across volumes
// Windows answers ERROR_NOT_SAME_DEVICE, which errors_windows.go maps to
// EXDEV; MOVEFILE_COPY_ALLOWED is not given, since a copy is not atomic.
//
// MoveFileEx never replaces a directory (ERROR_ACCESS_DENIED), where
// rename(2) replaces an empty one with a directory and answers ENOTEMPTY
// for a non-empty one. A directory onto a directory therefore removes the
// target first (RemoveDirectory: ENOTEMPTY if it is not empty) and then
// moves: not atomic, since another program can see newPath missing in
// between, but a crash in between still leaves oldPath, which rename(2)'s
// promise (the old name or the new one) allows; only the empty
// directory is gone.
func renameWindows(from, to *uint16) syscall.Errno {
	errno := windowsCoded(windows.MoveFileEx(from, to, windows.MOVEFILE_REPLACE_EXISTING))
	if plainErrno(errno) != syscall.EACCES || !isWindowsDir(from) || !isWindowsDir(to) {
		return errno
	}
	if errno := windowsCoded(windows.RemoveDirectory(to)); errno != 0 {
		return errno
	}
	return windowsCoded(windows.MoveFileEx(from, to, 0))
}

// symlinkFlagAllowUnprivileged is
// SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE: Windows 10 1703 and later
// in developer mode create the link without SeCreateSymbolicLinkPrivilege.
const symlinkFlagAllowUnprivileged = 0x2

// symlinkWindows is Symlinkat on IOCP, run on a worker: CreateSymbolicLink
// of linkPath (resolved as windowsPath says) holding target as given, with
// '/' turned into '\' (Windows resolves a link's target with '\' only). A
// target that is a directory when the link is made gets
// SYMBOLIC_LINK_FLAG_DIRECTORY, which Windows needs to open the link as
// a directory; a dangling target makes a file link. Without the privilege
// and without developer mode Windows refuses with
// ERROR_PRIVILEGE_NOT_HELD (EPERM); a system older than the unprivileged
// flag refuses the flag (ERROR_INVALID_PARAMETER) and is asked again
// without it.
//
// Both paths are converted into the record's buffers (iocpOp.paths), as
// windowsPath converts.
func symlinkWindows(bufs *[2][]uint16, targetNUL []byte, dirfd int, linkNUL []byte) syscall.Errno {
	link, errno := windowsPath(&bufs[1], dirfd, linkNUL)
	if errno != 0 {
		return errno
	}
	target := bufs[0][:0]
	for rest := targetNUL[:len(targetNUL)-1]; len(rest) > 0; {
		r, size := utf8.DecodeRune(rest)
		if r == '/' {
			r = '\\'
		}
		target = utf16.AppendRune(target, r)
		rest = rest[size:]
	}
	target = append(target, 0)
	bufs[0] = target
	flags := uint32(symlinkFlagAllowUnprivileged)
	if isWindowsDir(&target[0]) {
		flags |= windows.SYMBOLIC_LINK_FLAG_DIRECTORY
	}
	err := windows.CreateSymbolicLink(link, &target[0], flags)
	if err == windows.ERROR_INVALID_PARAMETER {
		err = windows.CreateSymbolicLink(link, &target[0], flags&^symlinkFlagAllowUnprivileged)
	}
	return windowsErrno(err)
}
