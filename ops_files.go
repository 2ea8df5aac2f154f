package ioloop

import (
	"strconv"
	"syscall"
	"unsafe"
)

// The file-system operations a storage engine needs, and durable writes.
//
// Paths follow OpenAt's rules: relative to a directory descriptor
// (unix.AT_FDCWD for the working directory), copied into storage the
// Completion reuses (no allocation per operation in steady state), and a
// path containing a NUL byte fails with EINVAL through the callback.
//
// How each runs, per backend (docs/ARCHITECTURE.md, "File-system
// operations"): on io_uring as the kernel's opcode (IORING_OP_FALLOCATE,
// FTRUNCATE, RENAMEAT, UNLINKAT, MKDIRAT, LINKAT, SYMLINKAT, FADVISE,
// SYNC_FILE_RANGE), probed at setup; where the kernel lacks one
// (FTRUNCATE needs Linux 6.9, MKDIRAT, SYMLINKAT and LINKAT 5.15) that
// operation runs its system call on the loop's file worker pool, as on the
// readiness backends (epoll, kqueue), with the same results. The kqueue
// systems lack some of the calls; each function's documentation says
// what they do instead.

// Durability says how durable a WriteDurable or WritevDurable is when its
// callback runs.
//
// Decision: a separate function family, not an options struct on Write.
// Write's signature stays as it is (no argument to pass on every plain
// write), the durable call is visible at the call site, and a Durability
// is one byte in the Completion, so the durable path costs nothing more
// than a plain Write.
type Durability uint8

const (
	// DataSync makes the written data, and the metadata needed to read it
	// back (a grown file size), durable before the callback runs: a write
	// followed by fdatasync(2), in one request. io_uring and Linux's
	// readiness backend use RWF_DSYNC (pwritev2), as O_DSYNC does for every
	// write of a file.
	DataSync Durability = 1
	// FileSync also makes all of the file's metadata durable: a write
	// followed by fsync(2) (RWF_SYNC, as O_SYNC).
	FileSync Durability = 2
)

// String names the durability.
func (d Durability) String() string {
	switch d {
	case DataSync:
		return "DataSync"
	case FileSync:
		return "FileSync"
	}
	return "Durability(" + strconv.Itoa(int(d)) + ")"
}

// WriteDurable is Write, durable when its callback runs: the bytes it
// reports written are on stable storage as d says (DataSync or FileSync).
// If the sync fails, the write fails with its error. An invalid d panics.
//
//	Linux (io_uring)   one WRITE request with RWF_DSYNC or RWF_SYNC in rw_flags
//	Linux (epoll)      pwritev2(2) with RWF_DSYNC or RWF_SYNC, on a file worker
//	macOS              write, then fcntl(F_FULLFSYNC) on the same worker, for both:
//	                   macOS's fsync(2) does not flush the drive's cache
//	FreeBSD, NetBSD,   write, then fsync(2) on the same worker, for both
//	OpenBSD            (x/sys has no fdatasync there; fsync does more)
//
// Offset -1 writes at the current position and advances it, as Write.
// A write of nothing syncs nothing. On a socket or pipe there is no
// storage to sync, and it is a plain Write.
//
// On io_uring, durable writes to one buffered (not O_DIRECT) file run one
// at a time in the kernel's workers: for many durable appends in flight,
// open the log with O_DIRECT|O_DSYNC, or Write and then Fdatasync
// (docs/ARCHITECTURE.md, "Durability", has the measurements).
func WriteDurable[T any](l *Loop, c *Completion, fd int, buf []byte, offset int64, d Durability, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	checkDurability("WriteDurable", d)
	l.prepare(c, opWrite, callback == nil)
	c.op = opWrite
	c.fd = int32(fd)
	c.io.buf = buf
	c.io.offset = offset
	c.flags = uint32(d)
	l.submitFile(offsetErrno(offset), c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// WritevDurable is Writev, durable when its callback runs, as
// WriteDurable says per OS (Linux: WRITEV or pwritev2 with the flag).
func WritevDurable[T any](l *Loop, c *Completion, fd int, bufs [][]byte, offset int64, d Durability, ctx *T, callback func(ctx *T, c *Completion, n int, err error)) {
	checkDurability("WritevDurable", d)
	l.prepare(c, opWritev, callback == nil)
	c.op = opWritev
	c.fd = int32(fd)
	c.setIovecs(bufs)
	c.io.offset = offset
	c.flags = uint32(d)
	l.submitFile(offsetErrno(offset), c, unsafe.Pointer(ctx), countCallback[T](callback))
}

// checkDurability panics, naming the call, for a Durability that is
// neither DataSync nor FileSync (the zero value included: a plain write is
// Write, not a WriteDurable of nothing).
func checkDurability(call string, d Durability) {
	if d != DataSync && d != FileSync {
		panic("ioloop: " + call + " with an invalid Durability " + d.String() + "; use DataSync or FileSync")
	}
}

// Fallocate manipulates the space allocated to the file fd over
// [offset, offset+length), like fallocate(2): mode 0 allocates it and
// extends the file if it ends past the end; Linux's FALLOC_FL_KEEP_SIZE,
// FALLOC_FL_PUNCH_HOLE and FALLOC_FL_ZERO_RANGE are mode bits (unix.FALLOC_FL_*).
// Preallocating a log file and syncing it once makes later appends
// cheaper to make durable: fdatasync need not write the size. A negative
// offset or a length <= 0 fails with EINVAL.
//
//	Linux           fallocate(2), every mode (IORING_OP_FALLOCATE on io_uring)
//	FreeBSD         posix_fallocate(2) for mode 0 (64-bit systems); other modes ENOTSUP
//	macOS           mode 0: fcntl(F_PREALLOCATE) past the end, then ftruncate to
//	                offset+length (holes inside the file stay holes); other modes ENOTSUP
//	NetBSD, OpenBSD ENOTSUP: no call reserves space (NetBSD's posix_fallocate is
//	                unimplemented on FFS); Ftruncate gives the size without the space
//	Windows         mode 0 and FALLOC_FL_KEEP_SIZE: FileAllocationInfo, and for mode 0
//	                FileEndOfFileInfo past the end; FALLOC_FL_ZERO_RANGE: the same, then
//	                FSCTL_SET_ZERO_DATA (or zeros written) inside the file;
//	                FALLOC_FL_PUNCH_HOLE|KEEP_SIZE: FSCTL_SET_SPARSE, FSCTL_SET_ZERO_DATA;
//	                other modes EOPNOTSUPP
func Fallocate[T any](l *Loop, c *Completion, fd int, mode uint32, offset, length int64, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opFallocate, callback == nil)
	c.op = opFallocate
	c.fd = int32(fd)
	c.attachRare().mode = mode
	c.io.offset = offset
	c.attachRare().lengthBytes = length
	l.submitFile(rangeErrno(offset, length, false), c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Ftruncate sets the size of the file fd to length bytes, like
// ftruncate(2): bytes past it are dropped, and a file grown by it reads as
// zeros. A negative length fails with EINVAL. Every OS has ftruncate(2);
// io_uring uses IORING_OP_FTRUNCATE (Linux 6.9+) or a worker.
func Ftruncate[T any](l *Loop, c *Completion, fd int, length int64, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opFtruncate, callback == nil)
	c.op = opFtruncate
	c.fd = int32(fd)
	c.attachRare().lengthBytes = length
	l.submitFile(rangeErrno(0, length, true), c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Rename flags, for Renameat. Linux has both (renameat2(2)); macOS has both
// under other names (renameatx_np's RENAME_EXCL and RENAME_SWAP); FreeBSD,
// NetBSD and OpenBSD have neither, and a Renameat with flags there fails
// with ENOTSUP: a check before a plain rename would not be atomic.
const (
	// RenameNoReplace fails with EEXIST instead of replacing an existing
	// newPath.
	RenameNoReplace uint32 = 1 << 0
	// RenameExchange swaps oldPath and newPath atomically; both must exist.
	RenameExchange uint32 = 1 << 1
)

// Renameat renames oldPath (relative to oldDirFD) to newPath (relative to
// newDirFD), like renameat2(2). flags is 0, RenameNoReplace or
// RenameExchange. A rename is atomic: a crash leaves the old name or the
// new one, never neither. It is durable only once the directory holding
// newPath (and, across directories, oldPath's) is synced: open the
// directory with O_DIRECTORY and Fsync it. Across file systems it fails
// with EXDEV; a directory onto a non-empty one with ENOTEMPTY; both flags
// together with EINVAL.
//
//	Linux           renameat2(2) (IORING_OP_RENAMEAT on io_uring)
//	macOS           renameat(2), or renameatx_np(2) with flags
//	FreeBSD, NetBSD, OpenBSD  renameat(2); any flag: ENOTSUP
//	Windows         MoveFileEx (RenameNoReplace: without replacing); RenameExchange: ENOTSUP
func Renameat[T any](l *Loop, c *Completion, oldDirFD int, oldPath string, newDirFD int, newPath string, flags uint32, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opRenameat, callback == nil)
	c.op = opRenameat
	c.flags = flags
	submitTwoPaths(l, c, oldDirFD, oldPath, newDirFD, newPath, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Unlinkat removes path (relative to dirFD), like unlinkat(2): a file, or
// with flags unix.AT_REMOVEDIR an empty directory (ENOTEMPTY otherwise,
// ENOTDIR for a file). Like a rename, the removal is durable once the
// directory is synced. A directory without AT_REMOVEDIR fails with EISDIR
// on Linux and EPERM on macOS and the BSDs (POSIX's answer): each kernel's
// own; on Windows EISDIR, as on Linux.
func Unlinkat[T any](l *Loop, c *Completion, dirFD int, path string, flags int, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opUnlinkat, callback == nil)
	c.op = opUnlinkat
	c.fd = int32(dirFD)
	c.flags = uint32(flags)
	l.submitFile(c.setPath(path), c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Mkdirat creates the directory path (relative to dirFD) with permission
// bits mode (less the umask), like mkdirat(2): EEXIST if path exists,
// ENOENT if its parent does not. Every OS has mkdirat(2); io_uring uses
// IORING_OP_MKDIRAT (5.15+) or a worker.
func Mkdirat[T any](l *Loop, c *Completion, dirFD int, path string, mode uint32, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opMkdirat, callback == nil)
	c.op = opMkdirat
	c.fd = int32(dirFD)
	c.attachRare().mode = mode
	l.submitFile(c.setPath(path), c, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Linkat creates newPath (relative to newDirFD) as a hard link to oldPath
// (relative to oldDirFD), like linkat(2); flags may hold
// unix.AT_SYMLINK_FOLLOW. Creating a file under a temporary name and
// linking it in place is, like a rename, durable once the directory is
// synced; unlike a rename it fails with EEXIST instead of replacing
// newPath. Across file systems it fails with EXDEV. Every OS has
// linkat(2); io_uring uses IORING_OP_LINKAT (5.15+) or a worker.
func Linkat[T any](l *Loop, c *Completion, oldDirFD int, oldPath string, newDirFD int, newPath string, flags int, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opLinkat, callback == nil)
	c.op = opLinkat
	c.flags = uint32(flags)
	submitTwoPaths(l, c, oldDirFD, oldPath, newDirFD, newPath, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Symlinkat creates linkPath (relative to newDirFD) as a symbolic link
// whose contents are target, like symlinkat(2). target is not checked:
// it may name nothing. An existing linkPath fails with EEXIST. Every OS
// has symlinkat(2); io_uring uses IORING_OP_SYMLINKAT (5.15+) or a worker.
func Symlinkat[T any](l *Loop, c *Completion, target string, newDirFD int, linkPath string, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opSymlinkat, callback == nil)
	c.op = opSymlinkat
	submitTwoPaths(l, c, -1, target, newDirFD, linkPath, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// Fadvise tells the kernel how the program will access [offset,
// offset+length) of the file fd (length 0: to the end), like
// posix_fadvise(2): advice is unix.FADV_SEQUENTIAL, FADV_WILLNEED,
// FADV_DONTNEED and so on. It is a hint: where the OS has no fadvise
// (macOS, OpenBSD) it checks fd and does nothing else.
//
//	Linux           fadvise64(2) (IORING_OP_FADVISE on io_uring; a length of
//	                4 GiB or more, which the SQE cannot carry, runs on a worker)
//	FreeBSD         checks fd, then posix_fadvise(2) (64-bit systems)
//	macOS, NetBSD,  checks fd (EBADF; ESPIPE for a pipe or socket) and succeeds:
//	OpenBSD         no posix_fadvise (NetBSD's is not worth a hand-made call)
//	Windows         checks fd as macOS does, and the advice (EINVAL): no fadvise
func Fadvise[T any](l *Loop, c *Completion, fd int, offset, length int64, advice int, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opFadvise, callback == nil)
	c.op = opFadvise
	l.submitRange(c, fd, offset, length, advice, unsafe.Pointer(ctx), errorCallback[T](callback))
}

// submitRange submits Fadvise or SyncFileRange: a byte range of fd, with
// flags (the advice), length 0 meaning "to the end".
func (l *Loop) submitRange(c *Completion, fd int, offset, length int64, flags int, ctx unsafe.Pointer, cb invoker) {
	c.fd = int32(fd)
	c.flags = uint32(flags)
	c.io.offset = offset
	c.attachRare().lengthBytes = length
	l.submitFile(rangeErrno(offset, length, true), c, ctx, cb)
}

// submitFile is submitUnless for file operations: a valid one counts toward
// Options.FileSubmitBatch.
func (l *Loop) submitFile(errno syscall.Errno, c *Completion, ctx unsafe.Pointer, cb invoker) {
	l.submitFileCode(errorCode(errno), c, ctx, cb)
}

// submitFileCode is submitFile for a rejection that may be an ioloop
// sentinel (ReadFixed's codeNotRegistered).
func (l *Loop) submitFileCode(code errorCode, c *Completion, ctx unsafe.Pointer, cb invoker) {
	if code == codeNone {
		l.fileOpsUnflushed++
	}
	l.submitUnlessCode(code, c, ctx, cb)
}

// submitTwoPaths stores the two paths (and directories) of Renameat,
// Linkat and Symlinkat and submits.
func submitTwoPaths(l *Loop, c *Completion, oldDirFD int, oldPath string, newDirFD int, newPath string, ctx unsafe.Pointer, cb invoker) {
	c.fd = int32(oldDirFD)
	errno := c.setPath(oldPath)
	rare := c.rare
	rare.dirFD2 = int32(newDirFD)
	if errno == 0 {
		errno = setNUL(&rare.path2NUL, newPath)
	}
	l.submitFile(errno, c, ctx, cb)
}

// rangeErrno rejects a negative offset, and a negative length (or, unless
// zeroLengthOK, a zero one), with EINVAL, as the kernel does.
func rangeErrno(offset, length int64, zeroLengthOK bool) syscall.Errno {
	if offset < 0 || length < 0 || (length == 0 && !zeroLengthOK) {
		return syscall.EINVAL
	}
	return 0
}
