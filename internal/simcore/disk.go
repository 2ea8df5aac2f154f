package simcore

import (
	"path"
	"syscall"
)

// The disk: a flat file system per node whose files have two images. data
// is what reads see (the page cache); durable is what a crash is sure to
// leave. A write marks its sectors dirty; a completed Fsync copies the
// dirty sectors to durable. A crash keeps, for every dirty sector
// independently, either the new or the old contents, so a multi-sector
// write that no Fsync covered may survive whole, vanish, or be torn at
// sector granularity. The size is metadata with the same choice.

type fileSystem struct {
	sectorBytes int
	byName      map[string]*inode
	order       []*inode // creation order: crash decisions never iterate a map
	lastIno     uint64
}

type inode struct {
	name    string
	ino     uint64 // the inode number Statx reports
	data    []byte
	durable []byte
	dirty   bitset // sectors written since the last Fsync
	bad     bitset // sectors that fail every read until rewritten
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

type bitset []uint64

func (b *bitset) set(i int) {
	for i/64 >= len(*b) {
		*b = append(*b, 0)
	}
	(*b)[i/64] |= 1 << (i % 64)
}

func (b bitset) get(i int) bool { return i/64 < len(b) && b[i/64]&(1<<(i%64)) != 0 }

func (b bitset) clear(i int) {
	if i/64 < len(b) {
		b[i/64] &^= 1 << (i % 64)
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
	ino := &inode{name: string(name), ino: fs.lastIno, mode: mode & 0o7777 &^ Umask}
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

func (n *Node) openAt(req *Request) int32 {
	if len(req.Path) == 0 {
		return -int32(syscall.ENOENT)
	}
	if errno := n.dirFD(req); errno != 0 {
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
		ino.data = ino.data[:0]
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
	case n.dirFD(req) != 0:
		return -int32(n.dirFD(req))
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
	size := int64(len(ino.data))
	sector := int64(n.fs.sectorBytes)
	n.stat = Stat{SizeBytes: size, Mode: syscall.S_IFREG | ino.mode, Nlink: 1, BlockBytes: uint32(sector),
		Blocks: (size + sector - 1) / sector * (sector / 512), Ino: ino.ino}
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
		if offset >= int64(len(ino.data)) || total == 0 {
			return 0
		}
		end := min(offset+int64(total), int64(len(ino.data)))
		if n.sectorFault(ino, offset, end, w.cfg.Faults.ReadError, "read-eio") {
			return -int32(syscall.EIO)
		}
		count := scatter(req, ino.data[offset:end])
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
			offset = int64(len(ino.data))
		case offset < 0:
			offset = f.pos
		}
		total := min(requestLen(req), maxTransfer)
		if total == 0 {
			return 0
		}
		end := offset + int64(total)
		if n.sectorFault(ino, offset, end, w.cfg.Faults.WriteError, "write-eio") {
			return -int32(syscall.EIO)
		}
		for int64(len(ino.data)) < end {
			ino.data = append(ino.data, 0)
		}
		gather(req, ino.data[offset:end])
		sector := int64(n.fs.sectorBytes)
		for s := offset / sector; s*sector < end; s++ {
			ino.dirty.set(int(s))
			ino.bad.clear(int(s)) // a rewrite remaps a bad sector
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
		if ino.bad.get(int(s)) && what == "read-eio" {
			w.trace.note(w.nowNs, n, "fault", "bad-sector")
			return true
		}
		if w.rand.Chance(probability) {
			w.trace.note(w.nowNs, n, "fault", what)
			if w.rand.Chance(w.cfg.Faults.StickyErrors) {
				ino.bad.set(int(s))
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
	if cap(ino.durable) < len(ino.data) {
		grown := make([]byte, len(ino.durable), len(ino.data))
		copy(grown, ino.durable)
		ino.durable = grown
	}
	old := len(ino.durable)
	ino.durable = ino.durable[:len(ino.data)]
	for i := old; i < len(ino.durable); i++ {
		ino.durable[i] = 0
	}
	for word, bits := range ino.dirty {
		for bit := 0; bits != 0; bit++ {
			if bits&(1<<bit) == 0 {
				continue
			}
			bits &^= 1 << bit
			start := (word*64 + bit) * sector
			if start < len(ino.data) {
				copy(ino.durable[start:min(start+sector, len(ino.data))], ino.data[start:])
			}
		}
	}
	clear(ino.dirty)
	ino.durableExists = true
	return 0
}

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

// scatter copies src into the request's buffers and returns the count.
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
		newLen := len(ino.durable)
		if len(ino.data) != newLen && r.Chance(0.5) {
			newLen = len(ino.data)
		}
		image := make([]byte, newLen)
		copy(image, ino.durable)
		sector := fs.sectorBytes
		for start := 0; start < newLen; start += sector {
			if !ino.dirty.get(start / sector) {
				continue
			}
			if r.Chance(0.5) {
				if start < len(ino.data) {
					copy(image[start:min(start+sector, newLen)], ino.data[start:])
				}
			}
		}
		ino.data = image
		ino.durable = append([]byte(nil), image...)
		clear(ino.dirty)
		ino.durableExists = true
		kept = append(kept, ino)
	}
	for i := len(kept); i < len(fs.order); i++ {
		fs.order[i] = nil
	}
	fs.order = kept
}
