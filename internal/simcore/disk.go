package simcore

import (
	"bytes"
	"math"
	"slices"
	"syscall"
)

// The disk: a file system per node (fs.go has its namespace) whose files
// have two images. data is what reads see (the page cache); durable is
// what a crash is sure to leave. A write marks its sectors dirty; a
// completed Fsync copies the dirty sectors to durable. A crash keeps, for
// every dirty sector independently, either the new or the old contents, so
// a multi-sector write that no Fsync covered may survive whole, vanish, or
// be torn at sector granularity. The size is metadata with the same choice.
//
// Both images are sparse (see image), so memory follows the bytes written,
// not the offsets: a 1-byte write at 1 TiB costs one sector, as it costs
// one block on a real file system.

type fileSystem struct {
	sectorBytes int
	root        *inode
	shm         *inode   // the root of the tmpfs mounted at /dev/shm
	order       []*inode // creation order: crash decisions never iterate a map
	lastIno     uint64
	records     []nsRecord // the journal of namespace changes not yet durable
	seq         uint64     // the last record's sequence number
	names       map[string]string
	extScratch  extents
}

type fileHandle struct {
	ino   *inode
	pos   int64
	flags uint32
}

// sectorSet is a set of sector numbers. A map rather than a bitset: a
// bitset indexed by sector grows with the highest offset written.
type sectorSet map[int64]struct{}

func (set sectorSet) has(s int64) bool { _, ok := set[s]; return ok }

// sorted returns the set's sectors in ascending order, for decisions that
// draw random numbers and so must not follow a map's order.
func (set sectorSet) sorted() []int64 {
	out := make([]int64, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// image is one sparse view of a file: pages of one sector each, keyed by
// sector number, and a size. A missing page is a hole and reads as zeros.
// Every byte at or past sizeBytes is zero, so that growing the file
// exposes zeros, as a write past the end does on a real file system.
type image struct {
	pages       map[int64][]byte
	sizeBytes   int64
	sectorBytes int64
}

func newImage(sectorBytes int) image {
	return image{pages: make(map[int64][]byte), sectorBytes: int64(sectorBytes)}
}

// writablePage returns sector s's page, allocating it for a hole.
func (img *image) writablePage(s int64) []byte {
	p := img.pages[s]
	if p == nil {
		p = make([]byte, img.sectorBytes)
		img.pages[s] = p
	}
	return p
}

// resize sets the size; shrinking drops the pages past it and zeroes the
// tail of the last one, keeping the zeros-past-the-end invariant.
func (img *image) resize(sizeBytes int64) {
	if sizeBytes < img.sizeBytes {
		sector := img.sectorBytes
		for s, p := range img.pages {
			switch {
			case s*sector >= sizeBytes:
				delete(img.pages, s)
			case (s+1)*sector > sizeBytes:
				clear(p[sizeBytes-s*sector:])
			}
		}
	}
	img.sizeBytes = sizeBytes
}

// clone returns a deep copy.
func (img *image) clone() image {
	out := image{pages: make(map[int64][]byte, len(img.pages)), sizeBytes: img.sizeBytes, sectorBytes: img.sectorBytes}
	for s, p := range img.pages {
		out.pages[s] = slices.Clone(p)
	}
	return out
}

// copyOut copies [pos, pos+len(b)) into b: zeros for holes.
func (img *image) copyOut(b []byte, pos int64) {
	sector := img.sectorBytes
	for len(b) > 0 {
		s, within := pos/sector, pos%sector
		n := int(min(sector-within, int64(len(b))))
		if p := img.pages[s]; p != nil {
			copy(b[:n], p[within:])
		} else {
			clear(b[:n])
		}
		b, pos = b[n:], pos+int64(n)
	}
}

// copyIn stores b at pos (the caller grows the size).
func (img *image) copyIn(b []byte, pos int64) {
	sector := img.sectorBytes
	for len(b) > 0 {
		s, within := pos/sector, pos%sector
		n := copy(img.writablePage(s)[within:], b)
		b, pos = b[n:], pos+int64(n)
	}
}

// transfer moves count bytes between the image at offset and the
// request's buffers, filled or drained in order from the first: into them
// (a read) or out of them (a write).
func (img *image) transfer(req *Request, offset int64, count int, read bool) {
	one := req.Kind != KindReadv && req.Kind != KindWritev
	for i := 0; count > 0; i++ {
		var b []byte
		switch {
		case one && i == 0:
			b = req.Buf
		case !one && i < len(req.Bufs):
			b = req.Bufs[i]
		default:
			return
		}
		b = b[:min(len(b), count)]
		if read {
			img.copyOut(b, offset)
		} else {
			img.copyIn(b, offset)
		}
		offset += int64(len(b))
		count -= len(b)
	}
}

// rootIno is the inode number of the root directory, as on ext4.
const rootIno = 2

// Umask is the simulated process's file mode creation mask: OpenAt
// creates files with its mode less these bits, as open(2) does.
const Umask = 0o022

func (n *Node) startDisk(index int32) {
	w := n.world
	cfg := &w.cfg
	req := &n.ops[index].req
	latency := cfg.OpenLatency
	var extraNs int64
	switch req.Kind {
	case KindRead, KindReadv:
		latency = cfg.ReadLatency
	case KindWrite, KindWritev:
		latency = cfg.WriteLatency
		if req.Flags != 0 {
			// A durable write waits for the device's flush too.
			extraNs = w.rand.Between(cfg.FsyncLatency.Min, cfg.FsyncLatency.Max)
		}
	case KindFsync:
		latency = cfg.FsyncLatency
	}
	n.ops[index].state = slotRunning
	w.schedule(n.opEvent(evDisk, index, w.nowNs+w.rand.Between(latency.Min, latency.Max)+extraNs, 0))
}

// runDisk performs a disk operation when it reaches the device.
func (n *Node) runDisk(index int32) {
	req := &n.ops[index].req
	var res int32
	switch req.Kind {
	case KindOpenAt:
		res = n.openAt(req)
	case KindStatx:
		res = n.statx(req)
	case KindMkdirat:
		res = -int32(n.mkdirat(req))
	case KindUnlinkat:
		res = -int32(n.unlinkat(req))
	case KindRenameat:
		res = -int32(n.renameat(req))
	case KindLinkat:
		res = -int32(n.linkat(req))
	case KindSymlinkat:
		res = -int32(n.symlinkat(req))
	case KindClose:
		if e := n.fdEntry(req.FD); e == nil {
			res = -int32(syscall.EBADF)
		} else {
			n.freeFD(req.FD)
		}
	case KindSyncFileRange:
		res = -int32(n.syncFileRange(req))
	default:
		e := n.fdEntry(req.FD)
		switch {
		case e == nil:
			res = -int32(syscall.EBADF)
		case e.file == nil:
			res = -int32(socketErrno(req))
		default:
			res = n.fileIO(e.file, req)
		}
	}
	n.deliver(index, res)
}

// socketErrno is what a file operation on a socket fails with.
func socketErrno(req *Request) syscall.Errno {
	switch req.Kind {
	case KindFsync, KindFtruncate:
		return syscall.EINVAL // fsync(2), ftruncate(2) of a socket
	case KindFallocate:
		if errno := fallocateModeErrno(req.Mode); errno != 0 {
			return errno
		}
		return syscall.ENODEV // vfs_fallocate: neither a file nor a block device
	case KindFadvise:
		if req.Flags > fadviseMax {
			return syscall.EINVAL
		}
		return 0 // no backing device: valid advice is accepted and ignored
	}
	return syscall.ESPIPE
}

// The limits of Linux paths: PATH_MAX bytes with the terminating NUL,
// NAME_MAX bytes per component; and of one readv(2) or writev(2), IOV_MAX
// buffers.
const (
	pathMaxBytes = 4096
	nameMaxBytes = 255
	maxIovecs    = 1024
)

// nameErrno is ENAMETOOLONG for a path with a component longer than
// NAME_MAX (found on a real file system while looking the path up, after
// dirfd), or 0.
func nameErrno(path []byte) syscall.Errno {
	for len(path) > 0 {
		end := bytes.IndexByte(path, '/')
		if end < 0 {
			end = len(path)
		}
		if end > nameMaxBytes {
			return syscall.ENAMETOOLONG
		}
		path = path[min(end+1, len(path)):]
	}
	return 0
}

func (n *Node) openAt(req *Request) int32 {
	flags := req.Flags
	if flags&OpenCreate != 0 && flags&OpenDirectory != 0 {
		return -int32(syscall.EINVAL) // build_open_flags, since Linux 6.4
	}
	// O_CREAT|O_EXCL never follows a final symlink: it fails with EEXIST.
	follow := flags&OpenNoFollow == 0 && (flags&OpenCreate == 0 || flags&OpenExclusive == 0)
	res, errno := n.lookupPath(req.FD, req.Path, follow)
	if errno != 0 {
		return -int32(errno)
	}
	fs := &n.fs
	ino := res.ino
	write := flags&OpenWrite != 0
	switch {
	case flags&OpenCreate != 0 && res.trailing:
		return -int32(syscall.EISDIR) // open_last_lookups: O_CREAT of "name/", whatever name is
	case ino == nil && flags&OpenCreate == 0:
		return -int32(syscall.ENOENT)
	case ino == nil && res.parent.dead:
		return -int32(syscall.ENOENT)
	case ino == nil:
		ino = fs.create(res, kindFile, req.Mode&0o7777&^Umask, nil)
	case flags&OpenCreate != 0 && flags&OpenExclusive != 0:
		return -int32(syscall.EEXIST)
	case ino.kind == kindSymlink:
		return -int32(syscall.ELOOP) // O_NOFOLLOW
	case ino.kind != kindDir && (flags&OpenDirectory != 0 || res.trailing):
		return -int32(syscall.ENOTDIR)
	case ino.kind == kindDir && (flags&OpenCreate != 0 || write || flags&OpenTruncate != 0):
		return -int32(syscall.EISDIR)
	}
	if flags&OpenTruncate != 0 && write {
		n.truncate(ino, 0)
	}
	return int32(n.allocFD(fdEntry{file: n.newFileHandle(ino, flags)}))
}

// truncate sets a file's size. Every sector that held data past the new
// size now reads as zeros: dirty, so that an Fsync makes the truncation
// durable and a crash keeps each sector's old or new contents.
func (n *Node) truncate(ino *inode, sizeBytes int64) {
	sector := int64(n.fs.sectorBytes)
	if sizeBytes < ino.data.sizeBytes || sizeBytes < ino.durable.sizeBytes {
		first := sizeBytes / sector // the partial sector changes too
		for s := range ino.data.pages {
			if s >= first {
				ino.dirty[s] = struct{}{}
			}
		}
		for s := range ino.durable.pages {
			if s >= first {
				ino.dirty[s] = struct{}{}
			}
		}
		ino.alloc.remove((sizeBytes+sector-1)/sector, math.MaxInt64, &n.fs.extScratch)
	}
	ino.data.resize(sizeBytes)
}

// newFileHandle returns a handle for an open file, reusing a closed one.
func (n *Node) newFileHandle(ino *inode, flags uint32) *fileHandle {
	var f *fileHandle
	if last := len(n.spareFiles) - 1; last >= 0 {
		f = n.spareFiles[last]
		n.spareFiles[last] = nil
		n.spareFiles = n.spareFiles[:last]
	} else {
		f = new(fileHandle)
	}
	*f = fileHandle{ino: ino, flags: flags}
	ino.opens++
	return f
}

// Statx flags: "the descriptor itself" (AT_EMPTY_PATH), and "do not
// follow a final symlink" (AT_SYMLINK_NOFOLLOW).
const (
	StatEmptyPath uint32 = 1
	StatNoFollow  uint32 = 2
)

func (n *Node) statx(req *Request) int32 {
	var ino *inode
	if len(req.Path) == 0 && req.Flags&StatEmptyPath != 0 {
		e := n.fdEntry(req.FD)
		if e == nil {
			return -int32(syscall.EBADF)
		}
		if e.file == nil {
			n.stat = Stat{Mode: syscall.S_IFSOCK | 0o777, Nlink: 1, BlockBytes: uint32(n.fs.sectorBytes)}
			n.host.FillStat(req.Token, &n.stat)
			return 0
		}
		ino = e.file.ino
	} else {
		res, errno := n.lookupPath(req.FD, req.Path, req.Flags&StatNoFollow == 0)
		switch {
		case errno != 0:
			return -int32(errno)
		case res.ino == nil:
			return -int32(syscall.ENOENT)
		case res.trailing && res.ino.kind != kindDir:
			return -int32(syscall.ENOTDIR)
		}
		ino = res.ino
	}
	n.fs.fillStat(&n.stat, ino)
	if n.host != nil {
		n.host.FillStat(req.Token, &n.stat)
	}
	return 0
}

// fileIO runs the operations on an open file or directory: Read, Readv,
// Write, Writev (durable or not), Fsync, Fallocate, Ftruncate, Fadvise.
func (n *Node) fileIO(f *fileHandle, req *Request) int32 {
	w := n.world
	ino := f.ino
	switch req.Kind {
	case KindFsync:
		if ino.kind == kindDir {
			return n.fsyncDir(ino)
		}
		return n.fsync(ino)
	case KindFallocate:
		return -int32(n.fallocate(f, req))
	case KindFtruncate:
		switch {
		case ino.kind != kindFile || f.flags&OpenWrite == 0:
			return -int32(syscall.EINVAL) // do_ftruncate
		case req.Length > maxFileBytes:
			return -int32(syscall.EFBIG)
		}
		n.truncate(ino, req.Length)
		return 0
	case KindFadvise:
		if req.Flags > fadviseMax {
			return -int32(syscall.EINVAL)
		}
		return 0 // advice changes nothing the simulator models
	case KindRead, KindReadv:
		if f.flags&OpenRead == 0 {
			return -int32(syscall.EBADF)
		}
		if ino.kind == kindDir {
			return -int32(syscall.EISDIR)
		}
		offset := req.Offset
		if offset < 0 {
			offset = f.pos
		}
		total := min(requestLen(req), maxTransfer)
		size := ino.data.sizeBytes
		if offset >= size || total == 0 {
			return 0
		}
		end := offset + min(int64(total), size-offset)
		if n.sectorFault(ino, offset, end, w.cfg.Faults.ReadError, "read-eio") {
			return -int32(syscall.EIO)
		}
		count := int(end - offset)
		ino.data.transfer(req, offset, count, true)
		if req.Offset < 0 {
			f.pos += int64(count)
		}
		return int32(count)
	default: // Write, Writev
		if f.flags&OpenWrite == 0 {
			return -int32(syscall.EBADF) // a directory is only ever open for reading
		}
		offset := req.Offset
		switch {
		case f.flags&OpenAppend != 0:
			offset = ino.data.sizeBytes
		case offset < 0:
			offset = f.pos
		}
		total := min(requestLen(req), maxTransfer)
		switch {
		case total == 0:
			return 0
		case offset > math.MaxInt64-int64(total):
			return -int32(syscall.EINVAL) // the end would overflow loff_t (rw_verify_area)
		case offset >= maxFileBytes:
			return -int32(syscall.EFBIG)
		}
		total = int(min(int64(total), maxFileBytes-offset)) // short at the limit, as on Linux
		end := offset + int64(total)
		if n.sectorFault(ino, offset, end, w.cfg.Faults.WriteError, "write-eio") {
			return -int32(syscall.EIO)
		}
		ino.data.transfer(req, offset, total, false)
		ino.data.sizeBytes = max(ino.data.sizeBytes, end)
		sector := int64(n.fs.sectorBytes)
		for s := offset / sector; s*sector < end; s++ {
			ino.dirty[s] = struct{}{}
			delete(ino.bad, s) // a rewrite remaps a bad sector
		}
		if req.Offset < 0 || f.flags&OpenAppend != 0 {
			f.pos = end
		}
		if req.Flags&(WriteDataSync|WriteFileSync) != 0 {
			if res := n.syncRange(ino, offset, end); res != 0 {
				return res
			}
		}
		return int32(total)
	}
}

// sectorFault decides whether an access to [offset, end) fails: a sector
// already bad, or a new error drawn per sector.
func (n *Node) sectorFault(ino *inode, offset, end int64, probability float64, what string) bool {
	w := n.world
	sector := int64(n.fs.sectorBytes)
	for s := offset / sector; s*sector < end; s++ {
		if what == "read-eio" && len(ino.bad) > 0 && ino.bad.has(s) {
			w.trace.note(w.nowNs, n, "fault", "bad-sector")
			return true
		}
		if w.rand.Chance(probability) {
			w.trace.note(w.nowNs, n, "fault", what)
			if w.rand.Chance(w.cfg.Faults.StickyErrors) {
				ino.bad[s] = struct{}{}
			}
			return true
		}
	}
	return false
}

// fsyncFault decides whether an Fsync (or a durable write's flush) fails.
func (n *Node) fsyncFault() bool {
	w := n.world
	if w.rand.Chance(w.cfg.Faults.FsyncError) {
		w.trace.note(w.nowNs, n, "fault", "fsync-eio")
		return true
	}
	return false
}

func (n *Node) fsync(ino *inode) int32 {
	if ino.tmpfs {
		return 0 // nothing to write back: memory is all a tmpfs has
	}
	if n.fsyncFault() {
		// As on Linux after a failed writeback: the pages are clean now,
		// so a later Fsync succeeds, but the data never reached the disk.
		clear(ino.dirty)
		return -int32(syscall.EIO)
	}
	ino.durable.resize(ino.data.sizeBytes)
	for s := range ino.dirty {
		ino.persistSector(s)
	}
	clear(ino.dirty)
	return 0
}

// persistSector copies sector s of data to durable (the size already
// copied).
func (ino *inode) persistSector(s int64) {
	if s*ino.data.sectorBytes >= ino.data.sizeBytes {
		return
	}
	// Both images are zero past their size, so whole pages copy exactly.
	if src := ino.data.pages[s]; src != nil {
		copy(ino.durable.writablePage(s), src)
	} else {
		delete(ino.durable.pages, s) // a hole since the truncation that dropped it
	}
}

// syncRange makes [offset, end) and the size durable, as RWF_DSYNC does
// after a write: the file's other dirty sectors stay dirty.
func (n *Node) syncRange(ino *inode, offset, end int64) int32 {
	if ino.tmpfs {
		return 0
	}
	sector := int64(n.fs.sectorBytes)
	if n.fsyncFault() {
		for s := offset / sector; s*sector < end; s++ {
			delete(ino.dirty, s) // forgotten, as by a failed Fsync
		}
		return -int32(syscall.EIO)
	}
	ino.durable.resize(ino.data.sizeBytes)
	for s := offset / sector; s*sector < end; s++ {
		ino.persistSector(s)
		delete(ino.dirty, s)
	}
	return 0
}

// fsyncDir makes a directory's changes durable (fs.go, syncDir). A failed
// one makes nothing durable; the changes stay pending, for a crash to keep
// or lose.
func (n *Node) fsyncDir(dir *inode) int32 {
	if dir.tmpfs {
		return 0
	}
	if n.fsyncFault() {
		return -int32(syscall.EIO)
	}
	n.fs.syncDir(dir)
	return 0
}

// Fallocate modes vfs_fallocate accepts (Linux 6.18), before it looks at
// the descriptor; the simulator serves the first five and fails the rest
// later, where a file system without them would: COLLAPSE_RANGE,
// INSERT_RANGE and UNSHARE_RANGE, which ext4 or XFS have.
const (
	fallocCollapseRange uint32 = 0x08
	fallocInsertRange   uint32 = 0x20
	fallocUnshareRange  uint32 = 0x40
)

// fallocateModeErrno checks a Fallocate mode as vfs_fallocate does: any
// other combination fails with EOPNOTSUPP before the descriptor's access
// mode is checked (measured: PUNCH_HOLE|ZERO_RANGE on a read-only
// descriptor is EOPNOTSUPP, COLLAPSE_RANGE on one EBADF).
func fallocateModeErrno(mode uint32) syscall.Errno {
	switch mode {
	case 0, FallocKeepSize, FallocPunchHole | FallocKeepSize, FallocZeroRange, FallocZeroRange | FallocKeepSize,
		fallocCollapseRange, fallocInsertRange, fallocUnshareRange, fallocUnshareRange | FallocKeepSize:
		return 0
	}
	return syscall.EOPNOTSUPP
}

// fallocate serves Fallocate in vfs_fallocate's order of checks.
func (n *Node) fallocate(f *fileHandle, req *Request) syscall.Errno {
	ino := f.ino
	mode, offset, length := req.Mode, req.Offset, req.Length
	switch {
	case offset < 0 || length <= 0:
		return syscall.EINVAL // the loop checks first; kept for direct callers
	case fallocateModeErrno(mode) != 0:
		return syscall.EOPNOTSUPP
	case f.flags&OpenWrite == 0:
		return syscall.EBADF
	case ino.kind == kindDir:
		return syscall.EISDIR
	case offset > maxFileBytes-length:
		return syscall.EFBIG
	case mode&(fallocCollapseRange|fallocInsertRange|fallocUnshareRange) != 0:
		return syscall.EOPNOTSUPP // not simulated
	case mode&FallocZeroRange != 0 && ino.tmpfs:
		return syscall.EOPNOTSUPP // shmem_fallocate: KEEP_SIZE and PUNCH_HOLE only
	}
	sector := int64(n.fs.sectorBytes)
	end := offset + length
	first, last := offset/sector, (end+sector-1)/sector // the sectors touched
	switch {
	case mode&FallocPunchHole != 0:
		n.zeroRange(ino, offset, min(end, ino.data.sizeBytes))
		// Whole sectors are deallocated; partial ones stay, zeroed.
		ino.alloc.remove((offset+sector-1)/sector, end/sector, &n.fs.extScratch)
	case mode&FallocZeroRange != 0:
		n.zeroRange(ino, offset, min(end, ino.data.sizeBytes))
		ino.alloc.add(first, last, &n.fs.extScratch)
	default:
		ino.alloc.add(first, last, &n.fs.extScratch)
	}
	if mode&FallocKeepSize == 0 && end > ino.data.sizeBytes {
		// Growing the size is metadata: a crash keeps the old or the new.
		ino.data.sizeBytes = end
	}
	return 0
}

// zeroRange makes [offset, end) of a file read as zeros: whole pages are
// dropped (holes), partial ones zeroed, and every sector that changes is
// dirty, as a write of zeros would make it.
func (n *Node) zeroRange(ino *inode, offset, end int64) {
	sector := int64(n.fs.sectorBytes)
	if end <= offset {
		return
	}
	zero := func(s int64) {
		lo, hi := max(offset, s*sector), min(end, (s+1)*sector)
		if p := ino.data.pages[s]; p != nil {
			if lo == s*sector && hi == (s+1)*sector {
				delete(ino.data.pages, s)
			} else {
				clear(p[lo-s*sector : hi-s*sector])
			}
		}
		ino.dirty[s] = struct{}{}
		delete(ino.bad, s)
	}
	first, last := offset/sector, (end-1)/sector
	// Visit only sectors that hold something in either image, so that
	// punching a hole in a huge sparse file costs what the file holds.
	if last-first < int64(len(ino.data.pages)+len(ino.durable.pages)) {
		for s := first; s <= last; s++ {
			if ino.data.pages[s] != nil || ino.durable.pages[s] != nil {
				zero(s)
			}
		}
		return
	}
	for s := range ino.data.pages {
		if s >= first && s <= last {
			zero(s)
		}
	}
	for s := range ino.durable.pages {
		if s >= first && s <= last {
			zero(s)
		}
	}
}

// syncFileRange checks sync_file_range(2)'s arguments in the kernel's
// order (measured on 6.18: the descriptor, then the flags and the range,
// then the file's type) and does nothing more: it never makes anything
// durable.
func (n *Node) syncFileRange(req *Request) syscall.Errno {
	e := n.fdEntry(req.FD)
	switch {
	case e == nil:
		return syscall.EBADF
	case req.Flags&^syncFileRangeValid != 0 || req.Offset < 0 || req.Length < 0 || req.Offset > math.MaxInt64-req.Length:
		return syscall.EINVAL
	case e.file == nil:
		return syscall.ESPIPE // neither a file, a directory, a symlink nor a block device
	}
	return 0
}

// maxFileBytes is the largest file size, as ext4's with 4 KiB blocks
// (s_maxbytes): a write at or past it fails with EFBIG, one that crosses
// it is short.
const maxFileBytes = 16<<40 - 4096

// maxTransfer is the most one read or write moves, as Linux's
// MAX_RW_COUNT: a larger request is short, and its count fits an int32.
const maxTransfer = 0x7ffff000

// requestLen is how many bytes a read or write asks for: its buffer's
// length, or its buffers' total (Readv, Writev).
func requestLen(req *Request) int {
	if req.Kind != KindReadv && req.Kind != KindWritev {
		return len(req.Buf)
	}
	total := 0
	for _, b := range req.Bufs {
		total += len(b)
	}
	return total
}

// scatter copies src into the request's buffers and returns the count
// (the network's reads; the disk's go through image.transfer).
func scatter(req *Request, src []byte) int {
	if req.Kind != KindReadv {
		return copy(req.Buf, src)
	}
	count := 0
	for _, b := range req.Bufs {
		count += copy(b, src[count:])
		if count == len(src) {
			break
		}
	}
	return count
}

// gather fills dst from the start of the request's buffers, which hold at
// least len(dst) bytes.
func gather(req *Request, dst []byte) {
	if req.Kind != KindWritev {
		copy(dst, req.Buf)
		return
	}
	count := 0
	for _, b := range req.Bufs {
		count += copy(dst[count:], b)
	}
}

// crash applies a power loss to the file system: first to the namespace
// (fs.go), which decides which inodes still have a name, then to the data
// of each file that does, in creation order (see the top of the file).
func (fs *fileSystem) crash(r *Rand, trace *Trace, nowNs int64, n *Node) {
	fs.crashNamespace(r, trace, nowNs, n)
	sector := int64(fs.sectorBytes)
	for _, ino := range fs.order {
		if ino.kind != kindFile {
			continue
		}
		newSize := ino.durable.sizeBytes
		if ino.data.sizeBytes != newSize && r.Chance(0.5) {
			newSize = ino.data.sizeBytes
		}
		image := ino.durable.clone()
		image.resize(newSize)
		for _, s := range ino.dirty.sorted() {
			start := s * sector
			if start >= newSize {
				break
			}
			if r.Chance(0.5) {
				// The new contents of the sector, as far as both the
				// surviving size and the page cache's size reach.
				if limit := min(start+sector, newSize, ino.data.sizeBytes); limit > start {
					dst := image.writablePage(s)[:limit-start]
					if src := ino.data.pages[s]; src != nil {
						copy(dst, src)
					} else {
						clear(dst)
					}
				}
			}
		}
		ino.data = image
		ino.durable = image.clone()
		clear(ino.dirty)
	}
}
