package simcore

import (
	"bytes"
	"math"
	"path"
	"slices"
	"syscall"
)

// The disk: a flat file system per node whose files have two images. data
// is what reads see (the page cache); durable is what a crash is sure to
// leave. A write marks its sectors dirty; a completed Fsync copies the
// dirty sectors to durable. A crash keeps, for every dirty sector
// independently, either the new or the old contents, so a multi-sector
// write that no Fsync covered may survive whole, vanish, or be torn at
// sector granularity. The size is metadata with the same choice.
//
// Both images are sparse (see image), so memory follows the bytes written,
// not the offsets: a 1-byte write at 1 TiB costs one sector, as it costs
// one block on a real file system.

type fileSystem struct {
	sectorBytes int
	byName      map[string]*inode
	order       []*inode // creation order: crash decisions never iterate a map
	lastIno     uint64
}

type inode struct {
	name    string
	ino     uint64 // the inode number Statx reports
	data    image
	durable image
	dirty   sectorSet // sectors written since the last Fsync
	bad     sectorSet // sectors that fail every read until rewritten
	// durableExists is false until the first completed Fsync: a file
	// created and never synced may vanish in a crash.
	durableExists bool
	mode          uint32
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

func (fs *fileSystem) init(sectorBytes int) {
	fs.sectorBytes = sectorBytes
	fs.byName = make(map[string]*inode)
}

// lookup finds a file by its cleaned name without allocating.
func (fs *fileSystem) lookup(name []byte) *inode { return fs.byName[string(name)] }

// rootIno is the inode number of the root directory, as on ext4.
const rootIno = 2

// Umask is the simulated process's file mode creation mask: OpenAt
// creates files with its mode less these bits, as open(2) does.
const Umask = 0o022

// create adds an empty file with permission bits mode (umask applied).
func (fs *fileSystem) create(name []byte, mode uint32) *inode {
	if fs.lastIno < rootIno {
		fs.lastIno = rootIno
	}
	fs.lastIno++
	ino := &inode{name: string(name), ino: fs.lastIno, mode: mode & 0o7777 &^ Umask,
		data: newImage(fs.sectorBytes), durable: newImage(fs.sectorBytes), dirty: sectorSet{}, bad: sectorSet{}}
	fs.byName[ino.name] = ino
	fs.order = append(fs.order, ino)
	return ino
}

func cleanPath(p []byte) []byte {
	if len(p) > 0 && p[0] == '/' && path.Clean(string(p)) == string(p) {
		return p
	}
	return []byte(path.Clean("/" + string(p)))
}

func (n *Node) startDisk(index int32) {
	w := n.world
	cfg := &w.cfg
	latency := cfg.OpenLatency
	switch n.ops[index].req.Kind {
	case KindRead, KindReadv:
		latency = cfg.ReadLatency
	case KindWrite, KindWritev:
		latency = cfg.WriteLatency
	case KindFsync:
		latency = cfg.FsyncLatency
	}
	n.ops[index].state = slotRunning
	w.schedule(n.opEvent(evDisk, index, w.nowNs+w.rand.Between(latency.Min, latency.Max), 0))
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
	case KindClose:
		if e := n.fdEntry(req.FD); e == nil {
			res = -int32(syscall.EBADF)
		} else {
			n.freeFD(req.FD)
		}
	default:
		e := n.fdEntry(req.FD)
		switch {
		case e == nil:
			res = -int32(syscall.EBADF)
		case e.file == nil && req.Kind == KindFsync:
			res = -int32(syscall.EINVAL) // fsync(2) of a socket
		case e.file == nil:
			res = -int32(syscall.ESPIPE)
		default:
			res = n.fileIO(e.file, req)
		}
	}
	n.deliver(index, res)
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
	switch {
	case len(req.Path) == 0:
		return -int32(syscall.ENOENT)
	case len(req.Path) >= pathMaxBytes:
		return -int32(syscall.ENAMETOOLONG) // getname(), before anything else
	}
	if errno := n.dirFD(req); errno != 0 {
		return -int32(errno)
	}
	if errno := nameErrno(req.Path); errno != 0 {
		return -int32(errno)
	}
	name := cleanPath(req.Path)
	if string(name) == "/" {
		return -int32(syscall.EISDIR)
	}
	fs := &n.fs
	ino := fs.lookup(name)
	flags := req.Flags
	switch {
	case ino != nil && flags&OpenCreate != 0 && flags&OpenExclusive != 0:
		return -int32(syscall.EEXIST)
	case ino == nil && flags&OpenCreate == 0:
		return -int32(syscall.ENOENT)
	case flags&OpenDirectory != 0:
		return -int32(syscall.ENOTDIR) // the only directory is the root
	case ino == nil:
		ino = fs.create(name, req.Mode)
	}
	if flags&OpenTruncate != 0 && flags&OpenWrite != 0 {
		// Every sector that held data now reads as zeros: dirty, so
		// that an Fsync makes the truncation durable and a crash keeps
		// each sector's old or new contents.
		for s := range ino.data.pages {
			ino.dirty[s] = struct{}{}
		}
		for s := range ino.durable.pages {
			ino.dirty[s] = struct{}{}
		}
		ino.data.resize(0)
	}
	return int32(n.allocFD(fdEntry{file: n.newFileHandle(ino, flags)}))
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
	return f
}

// dirFD checks the dirfd of a non-empty path: an absolute path ignores
// it; a relative one needs AtCWD, since the root is the only directory
// and no descriptor refers to it.
func (n *Node) dirFD(req *Request) syscall.Errno {
	switch {
	case req.FD == AtCWD || req.Path[0] == '/':
		return 0
	case n.fdEntry(req.FD) == nil:
		return syscall.EBADF
	}
	return syscall.ENOTDIR
}

// StatEmptyPath is the Statx flag for "the descriptor itself" (AT_EMPTY_PATH).
const StatEmptyPath uint32 = 1

func (n *Node) statx(req *Request) int32 {
	var ino *inode
	switch {
	case len(req.Path) == 0 && req.Flags&StatEmptyPath != 0:
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
	case len(req.Path) == 0:
		return -int32(syscall.ENOENT)
	case len(req.Path) >= pathMaxBytes:
		return -int32(syscall.ENAMETOOLONG)
	case n.dirFD(req) != 0:
		return -int32(n.dirFD(req))
	case nameErrno(req.Path) != 0:
		return -int32(nameErrno(req.Path))
	default:
		name := cleanPath(req.Path)
		if string(name) == "/" {
			n.stat = Stat{Mode: syscall.S_IFDIR | 0o755, Nlink: 2, BlockBytes: uint32(n.fs.sectorBytes), IsDirectory: true, Ino: rootIno}
			n.host.FillStat(req.Token, &n.stat)
			return 0
		}
		if ino = n.fs.lookup(name); ino == nil {
			return -int32(syscall.ENOENT)
		}
	}
	sector := int64(n.fs.sectorBytes)
	// Blocks counts the sectors written, not the size: holes take no space.
	n.stat = Stat{SizeBytes: ino.data.sizeBytes, Mode: syscall.S_IFREG | ino.mode, Nlink: 1, BlockBytes: uint32(sector),
		Blocks: int64(len(ino.data.pages)) * (sector / 512), Ino: ino.ino}
	if n.host != nil {
		n.host.FillStat(req.Token, &n.stat)
	}
	return 0
}

// fileIO runs Read, Readv, Write, Writev and Fsync on an open file.
func (n *Node) fileIO(f *fileHandle, req *Request) int32 {
	w := n.world
	ino := f.ino
	switch req.Kind {
	case KindFsync:
		return n.fsync(ino)
	case KindRead, KindReadv:
		if f.flags&OpenRead == 0 {
			return -int32(syscall.EBADF)
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
			return -int32(syscall.EBADF)
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

func (n *Node) fsync(ino *inode) int32 {
	w := n.world
	sector := n.fs.sectorBytes
	if w.rand.Chance(w.cfg.Faults.FsyncError) {
		// As on Linux after a failed writeback: the pages are clean now,
		// so a later Fsync succeeds, but the data never reached the disk.
		w.trace.note(w.nowNs, n, "fault", "fsync-eio")
		clear(ino.dirty)
		return -int32(syscall.EIO)
	}
	ino.durable.resize(ino.data.sizeBytes)
	for s := range ino.dirty {
		if s*int64(sector) >= ino.data.sizeBytes {
			continue
		}
		// Both images are zero past their size, so whole pages copy exactly.
		if src := ino.data.pages[s]; src != nil {
			copy(ino.durable.writablePage(s), src)
		} else {
			delete(ino.durable.pages, s) // a hole since the truncation that dropped it
		}
	}
	clear(ino.dirty)
	ino.durableExists = true
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

// crash applies a power loss to the file system (see the top of the file).
func (fs *fileSystem) crash(r *Rand, trace *Trace, nowNs int64, n *Node) {
	kept := fs.order[:0]
	for _, ino := range fs.order {
		if !ino.durableExists && r.Chance(0.5) {
			delete(fs.byName, ino.name)
			trace.note(nowNs, n, "crash-lost-file", ino.name)
			continue
		}
		newSize := ino.durable.sizeBytes
		if ino.data.sizeBytes != newSize && r.Chance(0.5) {
			newSize = ino.data.sizeBytes
		}
		image := ino.durable.clone()
		image.resize(newSize)
		sector := int64(fs.sectorBytes)
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
		ino.durableExists = true
		kept = append(kept, ino)
	}
	for i := len(kept); i < len(fs.order); i++ {
		fs.order[i] = nil
	}
	fs.order = kept
}
