package simcore

import (
	"bytes"
	"slices"
	"syscall"
)

// The namespace: directories, hard links and symlinks, and what a crash
// does to them.
//
// Every directory has two views of its entries. entries is what lookups
// see; durableEntries is what a crash is sure to leave. Each change to a
// directory (a create, mkdir, link, symlink, unlink, rmdir, rename) edits
// entries at once and appends a record to the file system's journal. An
// Fsync of a directory makes the records that touch it durable, together
// with every earlier record they depend on (see syncDir). An Fsync of a
// file does not: a file's name is the directory's business, as POSIX
// allows and as careful programs assume (ext4 happens to make a new
// file's name durable with the file; XFS and Btrfs do not promise it).
//
// A crash keeps, of each directory's pending records, a random prefix: the
// directory's entries after a crash are always a state the directory
// really passed through. A record that touches two directories (a rename
// from one to another) is one record, kept in both or in neither; when the
// two prefixes disagree, the longer is cut back to the shorter's
// decision, so a rename is atomic: after a crash the name refers to the
// old inode or the new one, never neither and never both. Whatever is not
// reachable from the root through the surviving entries vanishes, with
// its data: a file created and synced but whose name was never made
// durable is gone.
//
// The /dev/shm directory is a second device, a tmpfs: its changes are
// never journaled, its contents never survive a crash, and renames and
// links between it and the rest fail with EXDEV.

type inodeKind uint8

const (
	kindFile inodeKind = iota
	kindDir
	kindSymlink
)

type inode struct {
	kind  inodeKind
	tmpfs bool   // on the /dev/shm device: nothing of it survives a crash
	ino   uint64 // the inode number Statx reports
	mode  uint32 // permission bits
	// name is the name the inode was created with, for the trace.
	name string
	// links counts the live entries that name the inode, opens its open
	// descriptors.
	links, opens int32
	// home is the directory the inode was created in; moved is set once
	// it is renamed or linked anywhere. An inode that only ever had its
	// one name may be re-created (see reuse).
	home  *inode
	moved bool

	// A regular file.
	data    image
	durable image
	dirty   sectorSet // sectors written since the last Fsync
	bad     sectorSet // sectors that fail every read until rewritten
	alloc   extents   // sectors allocated by Fallocate (holes in data may be allocated)

	// A directory.
	entries        map[string]*inode
	durableEntries map[string]*inode
	parent         *inode // the live parent (the root is its own)
	subdirs        int32  // live entries that are directories (nlink is 2 + subdirs)
	dead           bool   // removed: nothing can be created in it any more
	removed        *inode // the last inode removed from this directory, for reuse
	mountRoot      bool   // the root of a device mounted on the root file system (/dev/shm)
	// Scratch of syncDir and crash: a sequence bound, and two counters.
	mark       uint64
	seen, keep int

	// A symlink.
	target []byte

	reachable bool // scratch of crash
}

// nsChange is one edit of one directory: name now refers to target (nil:
// the name is removed).
type nsChange struct {
	dir    *inode
	name   string
	target *inode
}

// nsRecord is one namespace operation, in the journal: one change, or two
// for a rename (which may touch two directories).
type nsRecord struct {
	seq     uint64
	changes [2]nsChange
	count   uint8
	durable bool // scratch of syncDir
}

// dirs returns the distinct directories the record touches.
func (r *nsRecord) dirs() (a, b *inode) {
	a = r.changes[0].dir
	if r.count == 2 && r.changes[1].dir != a {
		b = r.changes[1].dir
	}
	return a, b
}

func (fs *fileSystem) init(sectorBytes int) {
	fs.sectorBytes = sectorBytes
	fs.names = make(map[string]string)
	fs.root = fs.newInode(kindDir, 0o755, false, "/")
	fs.root.parent = fs.root
	fs.root.links = 1
	// /tmp and /dev/shm exist at boot, as on any Linux machine: durable,
	// not journaled. The tmpfs root's entry in /dev is the mount point.
	fs.mkdirDurable(fs.root, "tmp", 0o1777, false)
	dev := fs.mkdirDurable(fs.root, "dev", 0o755, false)
	fs.shm = fs.mkdirDurable(dev, "shm", 0o1777, true)
	fs.shm.mountRoot = true
}

// mkdirDurable creates a directory that exists from the start.
func (fs *fileSystem) mkdirDurable(parent *inode, name string, mode uint32, tmpfs bool) *inode {
	dir := fs.newInode(kindDir, mode, tmpfs, name)
	fs.setEntry(parent, name, dir)
	parent.durableEntries[name] = dir
	return dir
}

// newInode creates an inode with no name yet.
func (fs *fileSystem) newInode(kind inodeKind, mode uint32, tmpfs bool, name string) *inode {
	if fs.lastIno < rootIno-1 {
		fs.lastIno = rootIno - 1
	}
	fs.lastIno++
	ino := &inode{kind: kind, tmpfs: tmpfs, ino: fs.lastIno, mode: mode, name: name}
	switch kind {
	case kindFile:
		ino.data, ino.durable = newImage(fs.sectorBytes), newImage(fs.sectorBytes)
		ino.dirty, ino.bad = sectorSet{}, sectorSet{}
	case kindDir:
		ino.entries, ino.durableEntries = make(map[string]*inode), make(map[string]*inode)
	}
	fs.order = append(fs.order, ino)
	return ino
}

// intern returns name as a string shared by every entry of that name, so
// that renaming back and forth between names already seen allocates
// nothing. The table keeps every name ever used on the node.
func (fs *fileSystem) intern(name []byte) string {
	if s, ok := fs.names[string(name)]; ok {
		return s
	}
	s := string(name)
	fs.names[s] = s
	return s
}

// setEntry makes name in dir refer to ino (live), dropping what it named.
func (fs *fileSystem) setEntry(dir *inode, name string, ino *inode) {
	if old := dir.entries[name]; old != nil {
		dropRef(dir, old)
	}
	dir.entries[name] = ino
	ino.links++
	if ino.kind == kindDir {
		dir.subdirs++
		ino.parent = dir
	}
}

// removeEntry removes name from dir (live).
func (fs *fileSystem) removeEntry(dir *inode, name string) {
	if old := dir.entries[name]; old != nil {
		delete(dir.entries, name)
		dropRef(dir, old)
	}
}

func dropRef(dir, old *inode) {
	old.links--
	if old.kind == kindDir {
		dir.subdirs--
	}
}

// journal appends a record of one or two changes already made live.
// Changes on the tmpfs are not recorded: a crash empties it anyway.
func (fs *fileSystem) journal(a, b nsChange) {
	if a.dir.tmpfs {
		return
	}
	fs.seq++
	r := nsRecord{seq: fs.seq, changes: [2]nsChange{a, b}, count: 1}
	if b.dir != nil {
		r.count = 2
	}
	fs.records = append(fs.records, r)
}

// syncDir makes dir's pending changes durable: every record that touches
// dir, and, so that each directory's durable entries stay a state it
// really passed through, every earlier record that touches a directory one
// of those touches, and so on. One backward pass finds them all, since a
// record only ever depends on earlier ones: a directory's mark is the
// highest sequence up to which its records must become durable.
func (fs *fileSystem) syncDir(dir *inode) {
	if dir.tmpfs || len(fs.records) == 0 {
		return
	}
	dir.mark = fs.seq
	for i := len(fs.records) - 1; i >= 0; i-- {
		r := &fs.records[i]
		a, b := r.dirs()
		if a.mark >= r.seq || (b != nil && b.mark >= r.seq) {
			r.durable = true
			a.mark = max(a.mark, r.seq)
			if b != nil {
				b.mark = max(b.mark, r.seq)
			}
		}
	}
	kept := fs.records[:0]
	for i := range fs.records {
		r := fs.records[i]
		a, b := r.dirs()
		a.mark = 0
		if b != nil {
			b.mark = 0
		}
		if r.durable {
			r.applyDurable()
			continue
		}
		kept = append(kept, r)
	}
	clear(fs.records[len(kept):])
	fs.records = kept
	dir.mark = 0
}

// applyDurable applies the record to its directories' durable entries.
func (r *nsRecord) applyDurable() {
	for _, ch := range r.changes[:r.count] {
		if ch.target == nil {
			delete(ch.dir.durableEntries, ch.name)
		} else {
			ch.dir.durableEntries[ch.name] = ch.target
		}
	}
}

// crashNamespace decides which pending records survive (see the top of
// the file), rebuilds the live namespace from the durable one, and drops
// every inode that is no longer reachable.
func (fs *fileSystem) crashNamespace(r *Rand, trace *Trace, nowNs int64, n *Node) {
	for i := range fs.records {
		a, b := fs.records[i].dirs()
		a.seen++
		if b != nil {
			b.seen++
		}
	}
	// Each directory's prefix length, drawn in creation order (never a
	// map's): keep of its seen records.
	for _, ino := range fs.order {
		if ino.kind == kindDir && ino.seen > 0 {
			ino.keep = r.Intn(ino.seen + 1)
			ino.seen = 0
		}
	}
	// A record survives if it falls inside every prefix it is part of; one
	// that does not cuts each of its directories' prefixes before it, so
	// that the survivors of every directory stay a prefix. Cutting only
	// affects later records, so one forward pass settles it.
	for i := range fs.records {
		rec := &fs.records[i]
		a, b := rec.dirs()
		kept := a.seen < a.keep && (b == nil || b.seen < b.keep)
		if kept {
			rec.applyDurable()
		} else {
			a.keep = min(a.keep, a.seen)
			if b != nil {
				b.keep = min(b.keep, b.seen)
			}
		}
		a.seen++
		if b != nil {
			b.seen++
		}
	}
	clear(fs.records)
	fs.records = fs.records[:0]
	for _, ino := range fs.order {
		// The crash closed every descriptor, and what was removed is
		// forgotten.
		ino.seen, ino.keep, ino.reachable, ino.links, ino.opens, ino.removed = 0, 0, false, 0, 0, nil
		if ino.kind == kindDir {
			ino.subdirs = 0
		}
	}
	// The tmpfs comes back empty.
	clear(fs.shm.entries)
	clear(fs.shm.durableEntries)

	// Rebuild the live namespace from the durable one, breadth first from
	// the root. The order of a map's iteration decides nothing here: every
	// reachable inode is marked, and each directory has exactly one parent.
	fs.root.reachable, fs.root.links = true, 1
	queue := []*inode{fs.root}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		dir.entries = make(map[string]*inode, len(dir.durableEntries))
		for name, child := range dir.durableEntries {
			dir.entries[name] = child
			child.links++
			if child.kind == kindDir {
				if child.reachable {
					panic("simcore: internal error: a crash left a directory with two parents")
				}
				dir.subdirs++
				child.parent = dir
				queue = append(queue, child)
			}
			child.reachable = true
		}
	}
	kept := fs.order[:0]
	for _, ino := range fs.order {
		if !ino.reachable {
			if ino.kind == kindFile && !ino.tmpfs {
				trace.note(nowNs, n, "crash-lost-file", ino.name)
			}
			continue
		}
		ino.dead = false
		kept = append(kept, ino)
	}
	clear(fs.order[len(kept):])
	fs.order = kept
}

// The limit on symlinks followed in one lookup, as Linux's MAXSYMLINKS.
const maxSymlinks = 40

// walkResult is where a path leads: the directory holding its last
// component and that component (nil for a path of slashes only, which
// names the root), the inode it names (nil: none), and whether the path
// ended in a slash (then it must name a directory).
type walkResult struct {
	parent   *inode
	name     []byte
	ino      *inode
	trailing bool
}

// isDots reports whether a last component is "." or "..", which no
// operation may create, remove or rename.
func isDots(name []byte) bool {
	return (len(name) == 1 && name[0] == '.') || (len(name) == 2 && name[0] == '.' && name[1] == '.')
}

// walk resolves path from dir as Linux's path walk does: "." and ".."
// by the directory tree, every symlink before the last component followed
// (ELOOP past maxSymlinks in all), the last one only if follow or the path
// ends in a slash. It allocates nothing: components are slices of path,
// and a symlink recurses on the Go stack.
func (fs *fileSystem) walk(dir *inode, path []byte, follow bool, links *int) (walkResult, syscall.Errno) {
	if len(path) > 0 && path[0] == '/' {
		dir = fs.root
	}
	res := walkResult{ino: dir}
	cur := dir
	for i := 0; ; {
		for i < len(path) && path[i] == '/' {
			i++
		}
		if i == len(path) {
			return res, 0
		}
		j := i
		for j < len(path) && path[j] != '/' {
			j++
		}
		k := j
		for k < len(path) && path[k] == '/' {
			k++
		}
		comp, last := path[i:j], k == len(path)
		if cur.kind != kindDir {
			return res, syscall.ENOTDIR
		}
		var next *inode
		switch {
		case len(comp) == 1 && comp[0] == '.':
			next = cur
		case len(comp) == 2 && comp[0] == '.' && comp[1] == '.':
			next = cur.parent
		default:
			next = cur.entries[string(comp)]
		}
		if last {
			res = walkResult{parent: cur, name: comp, ino: next, trailing: j < len(path)}
			if next != nil && next.kind == kindSymlink && (follow || res.trailing) {
				if *links++; *links > maxSymlinks {
					return res, syscall.ELOOP
				}
				inner, errno := fs.walk(cur, next.target, true, links)
				inner.trailing = inner.trailing || res.trailing
				return inner, errno
			}
			return res, 0
		}
		if next == nil {
			return res, syscall.ENOENT
		}
		if next.kind == kindSymlink {
			if *links++; *links > maxSymlinks {
				return res, syscall.ELOOP
			}
			inner, errno := fs.walk(cur, next.target, true, links)
			if errno != 0 {
				return inner, errno
			}
			if inner.ino == nil {
				return inner, syscall.ENOENT
			}
			next = inner.ino
		}
		if next.kind != kindDir {
			return res, syscall.ENOTDIR
		}
		cur = next
		i = k
	}
}

// lookupPath checks a path and its dirfd in Linux's order (an empty path,
// then PATH_MAX, then the dirfd, then NAME_MAX) and walks it.
func (n *Node) lookupPath(dirFD int, path []byte, follow bool) (walkResult, syscall.Errno) {
	switch {
	case len(path) == 0:
		return walkResult{}, syscall.ENOENT
	case len(path) >= pathMaxBytes:
		return walkResult{}, syscall.ENAMETOOLONG // getname(), before anything else
	}
	start, errno := n.startDir(dirFD, path)
	if errno != 0 {
		return walkResult{}, errno
	}
	if errno := nameErrno(path); errno != 0 {
		return walkResult{}, errno
	}
	links := 0
	return n.fs.walk(start, path, follow, &links)
}

// startDir is the directory a path starts from: the root for an absolute
// path (dirfd is ignored) or AtCWD (the process's working directory is the
// root), else the directory dirfd refers to.
func (n *Node) startDir(dirFD int, path []byte) (*inode, syscall.Errno) {
	if path[0] == '/' || dirFD == AtCWD {
		return n.fs.root, 0
	}
	e := n.fdEntry(dirFD)
	switch {
	case e == nil:
		return nil, syscall.EBADF
	case e.file == nil || e.file.ino.kind != kindDir:
		return nil, syscall.ENOTDIR
	}
	return e.file.ino, 0
}

// lookupCreate looks up a path whose last component mkdir, link or
// symlink is to create (a final symlink is not followed), and checks that
// it may: EEXIST for what exists or for ".", ".." and the root, ENOENT in a
// removed directory or (but for a directory) with a trailing slash.
func (n *Node) lookupCreate(dirFD int, path []byte, dir bool) (walkResult, syscall.Errno) {
	res, errno := n.lookupPath(dirFD, path, false)
	switch {
	case errno != 0:
		return res, errno
	case res.parent == nil || isDots(res.name) || res.ino != nil:
		return res, syscall.EEXIST
	case res.parent.dead || (res.trailing && !dir):
		return res, syscall.ENOENT
	}
	return res, 0
}

// create adds a new inode at a lookup's last component (a symlink to
// target) and journals it.
func (fs *fileSystem) create(res walkResult, kind inodeKind, mode uint32, target []byte) *inode {
	dir := res.parent
	name := fs.intern(res.name)
	ino := dir.reuse(kind, name, mode, target)
	if ino == nil {
		ino = fs.newInode(kind, mode, dir.tmpfs, name)
		ino.home = dir
		ino.target = append(ino.target, target...)
	}
	fs.setEntry(dir, name, ino)
	fs.journal(nsChange{dir: dir, name: name, target: ino}, nsChange{})
	return ino
}

// noteRemoved remembers an inode just removed from dir, which create may
// bring back (reuse).
func (dir *inode) noteRemoved(ino *inode) {
	if ino.links == 0 && !ino.moved && ino.home == dir && ino.kind != kindFile {
		dir.removed = ino
	}
}

// reuse returns the directory or symlink last removed from dir, to be
// created again as the same inode, when nothing could tell the two apart:
// it had only ever this one name, nothing holds it open, and it would be
// created the same (an empty directory with the same mode and nothing
// durable inside; a symlink with the same target). File systems reuse a
// freed inode for the next one created as a matter of course; here it is
// what lets removing and re-creating a name allocate nothing. A crash
// that undoes the removal finds the same inode there, in the state the
// re-created one has: the first one's, unless something was since made
// durable inside the re-created directory (docs/SIMULATION.md says so).
func (dir *inode) reuse(kind inodeKind, name string, mode uint32, target []byte) *inode {
	ino := dir.removed
	if ino == nil || ino.kind != kind || ino.name != name || ino.mode != mode || ino.links != 0 ||
		ino.opens != 0 || ino.moved || ino.home != dir {
		return nil
	}
	switch kind {
	case kindDir:
		if len(ino.entries) != 0 || len(ino.durableEntries) != 0 {
			return nil
		}
	case kindSymlink:
		if !bytes.Equal(ino.target, target) {
			return nil
		}
	default:
		return nil // a file has data: not worth proving it indistinguishable
	}
	dir.removed = nil
	ino.dead = false
	return ino
}

func (n *Node) mkdirat(req *Request) syscall.Errno {
	res, errno := n.lookupCreate(req.FD, req.Path, true)
	if errno != 0 {
		return errno
	}
	n.fs.create(res, kindDir, req.Mode&0o1777&^Umask, nil)
	return 0
}

func (n *Node) symlinkat(req *Request) syscall.Errno {
	switch {
	case len(req.Path) == 0:
		return syscall.ENOENT
	case len(req.Path) >= pathMaxBytes:
		return syscall.ENAMETOOLONG
	}
	res, errno := n.lookupCreate(req.FD2, req.Path2, false)
	if errno != 0 {
		return errno
	}
	n.fs.create(res, kindSymlink, 0o777, req.Path)
	return 0
}

func (n *Node) linkat(req *Request) syscall.Errno {
	if req.Flags&^LinkFollow != 0 {
		return syscall.EINVAL
	}
	old, errno := n.lookupPath(req.FD, req.Path, req.Flags&LinkFollow != 0)
	switch {
	case errno != 0:
		return errno
	case old.ino == nil:
		return syscall.ENOENT
	case old.trailing && old.ino.kind != kindDir:
		return syscall.ENOTDIR
	}
	res, errno := n.lookupCreate(req.FD2, req.Path2, false)
	if errno != 0 {
		return errno
	}
	switch {
	case old.ino.tmpfs != res.parent.tmpfs:
		return syscall.EXDEV
	case old.ino.kind == kindDir:
		return syscall.EPERM
	}
	fs := &n.fs
	name := fs.intern(res.name)
	old.ino.moved = true
	fs.setEntry(res.parent, name, old.ino)
	fs.journal(nsChange{dir: res.parent, name: name, target: old.ino}, nsChange{})
	return 0
}

func (n *Node) unlinkat(req *Request) syscall.Errno {
	if req.Flags&^UnlinkRemoveDir != 0 {
		return syscall.EINVAL
	}
	res, errno := n.lookupPath(req.FD, req.Path, false)
	if errno != 0 {
		return errno
	}
	rmdir := req.Flags&UnlinkRemoveDir != 0
	switch {
	case rmdir && res.parent == nil:
		return syscall.EBUSY // the root
	case rmdir && len(res.name) == 1 && res.name[0] == '.':
		return syscall.EINVAL
	case rmdir && isDots(res.name):
		return syscall.ENOTEMPTY // ".."
	case !rmdir && (res.parent == nil || isDots(res.name)):
		return syscall.EISDIR
	case res.ino == nil:
		return syscall.ENOENT
	case rmdir && res.ino.kind != kindDir:
		return syscall.ENOTDIR
	case rmdir && res.ino.mountRoot:
		return syscall.EBUSY
	case rmdir && len(res.ino.entries) > 0:
		return syscall.ENOTEMPTY
	case !rmdir && res.ino.kind == kindDir:
		return syscall.EISDIR
	case !rmdir && res.trailing:
		return syscall.ENOTDIR
	}
	fs := &n.fs
	name := fs.intern(res.name)
	fs.removeEntry(res.parent, name)
	if rmdir {
		res.ino.dead = true
	}
	res.parent.noteRemoved(res.ino)
	fs.journal(nsChange{dir: res.parent, name: name}, nsChange{})
	return 0
}

// isAncestor reports whether dir is a or an ancestor of a.
func isAncestor(dir, a *inode) bool {
	for {
		if a == dir {
			return true
		}
		if a.parent == a || a.parent == nil {
			return false
		}
		a = a.parent
	}
}

func (n *Node) renameat(req *Request) syscall.Errno {
	flags := req.Flags
	if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
		return syscall.EINVAL
	}
	old, errno := n.lookupPath(req.FD, req.Path, false)
	if errno != 0 {
		return errno
	}
	nu, errno := n.lookupPath(req.FD2, req.Path2, false)
	if errno != 0 {
		return errno
	}
	exchange := flags&RenameExchange != 0
	switch {
	case old.parent == nil || nu.parent == nil:
		return syscall.EBUSY // the root is a mount point
	case old.parent.tmpfs != nu.parent.tmpfs:
		return syscall.EXDEV
	case isDots(old.name):
		return syscall.EBUSY
	case isDots(nu.name) && flags&RenameNoReplace != 0:
		return syscall.EEXIST
	case isDots(nu.name):
		return syscall.EBUSY
	case old.ino == nil:
		return syscall.ENOENT
	case exchange && nu.ino == nil:
		return syscall.ENOENT
	case flags&RenameNoReplace != 0 && nu.ino != nil:
		return syscall.EEXIST
	case old.ino.kind != kindDir && (old.trailing || nu.trailing):
		return syscall.ENOTDIR
	case exchange && nu.ino.kind != kindDir && old.trailing:
		return syscall.ENOTDIR
	case old.ino.kind == kindDir && isAncestor(old.ino, nu.parent):
		return syscall.EINVAL // a directory into its own subtree
	case nu.ino != nil && nu.ino.kind == kindDir && isAncestor(nu.ino, old.parent):
		if exchange {
			return syscall.EINVAL
		}
		return syscall.ENOTEMPTY
	case old.ino == nu.ino:
		return 0 // two names of one inode: rename(2) does nothing
	case old.ino.mountRoot || (nu.ino != nil && nu.ino.mountRoot):
		return syscall.EBUSY
	}
	if !exchange && nu.ino != nil {
		switch {
		case nu.ino.kind == kindDir && old.ino.kind != kindDir:
			return syscall.EISDIR
		case old.ino.kind == kindDir && nu.ino.kind != kindDir:
			return syscall.ENOTDIR
		case nu.ino.kind == kindDir && len(nu.ino.entries) > 0:
			return syscall.ENOTEMPTY
		}
	}
	fs := &n.fs
	oldName, newName := fs.intern(old.name), fs.intern(nu.name)
	old.ino.moved = true
	if exchange {
		a, b := old.ino, nu.ino
		b.moved = true
		fs.setEntry(old.parent, oldName, b)
		fs.setEntry(nu.parent, newName, a)
		fs.journal(nsChange{dir: old.parent, name: oldName, target: b}, nsChange{dir: nu.parent, name: newName, target: a})
		return 0
	}
	if nu.ino != nil && nu.ino.kind == kindDir {
		nu.ino.dead = true // an empty directory replaced
	}
	ino, replaced := old.ino, nu.ino
	fs.removeEntry(old.parent, oldName)
	fs.setEntry(nu.parent, newName, ino)
	if replaced != nil {
		nu.parent.noteRemoved(replaced)
	}
	fs.journal(nsChange{dir: old.parent, name: oldName}, nsChange{dir: nu.parent, name: newName, target: ino})
	return 0
}

// fillStat describes ino as Statx reports it.
func (fs *fileSystem) fillStat(st *Stat, ino *inode) {
	sector := int64(fs.sectorBytes)
	*st = Stat{Ino: ino.ino, BlockBytes: uint32(sector), Nlink: uint32(max(ino.links, 0))}
	switch ino.kind {
	case kindDir:
		// ext4's: a directory of one block.
		st.Mode, st.SizeBytes, st.Blocks, st.IsDirectory = syscall.S_IFDIR|ino.mode, 4096, 4096/512, true
		st.Nlink = uint32(2 + ino.subdirs)
	case kindSymlink:
		st.Mode, st.SizeBytes = syscall.S_IFLNK|0o777, int64(len(ino.target))
	default:
		// Blocks counts the sectors written or allocated, not the size:
		// holes take no space.
		st.Mode, st.SizeBytes = syscall.S_IFREG|ino.mode, ino.data.sizeBytes
		st.Blocks = ino.allocatedSectors() * (sector / 512)
	}
}

// extents is a sorted list of disjoint, non-adjacent sector ranges
// [start, end): what Fallocate allocated, without the memory of a page
// per sector (a preallocated 1 GiB log costs one entry).
type extents []extent

type extent struct{ start, end int64 }

// add merges [start, end) in, building the result in scratch and
// swapping, so that steady use allocates nothing.
func (x *extents) add(start, end int64, scratch *extents) {
	out := (*scratch)[:0]
	placed := false
	for _, e := range *x {
		switch {
		case e.end < start:
			out = append(out, e)
		case e.start > end:
			if !placed {
				out = append(out, extent{start, end})
				placed = true
			}
			out = append(out, e)
		default:
			start, end = min(start, e.start), max(end, e.end)
		}
	}
	if !placed {
		out = append(out, extent{start, end})
	}
	*x, *scratch = out, (*x)[:0]
}

// remove takes [start, end) out, as add does.
func (x *extents) remove(start, end int64, scratch *extents) {
	out := (*scratch)[:0]
	for _, e := range *x {
		if e.end <= start || e.start >= end {
			out = append(out, e)
			continue
		}
		if e.start < start {
			out = append(out, extent{e.start, start})
		}
		if e.end > end {
			out = append(out, extent{end, e.end})
		}
	}
	*x, *scratch = out, (*x)[:0]
}

// contains reports whether sector s is in one of the extents.
func (x extents) contains(s int64) bool {
	i, _ := slices.BinarySearchFunc(x, s, func(e extent, s int64) int {
		switch {
		case e.end <= s:
			return -1
		case e.start > s:
			return 1
		}
		return 0
	})
	return i < len(x) && x[i].start <= s && s < x[i].end
}

// allocatedSectors counts the sectors that hold data or were allocated.
func (ino *inode) allocatedSectors() int64 {
	count := int64(len(ino.data.pages))
	if len(ino.alloc) == 0 {
		return count
	}
	for _, e := range ino.alloc {
		count += e.end - e.start
	}
	for s := range ino.data.pages {
		if ino.alloc.contains(s) {
			count-- // counted in its extent
		}
	}
	return count
}
