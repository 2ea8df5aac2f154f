package simcore

import "syscall"

// What a test does to a real machine beside the loop under test
// (os.WriteFile, os.MkdirAll, open(2), lseek(2), os.ReadFile, lstat(2),
// setsockopt(2)), done directly on a node: at once, with no latency, no
// faults and nothing in the trace. The conformance tests of package ioloop
// set up and inspect simulated files and sockets with it the way they do
// real ones.

// MkdirAll creates the directory at path and any missing parents, as
// os.MkdirAll does, durable as if each parent had been synced. It fails
// with the errno of the first step that does (ENOTDIR for a file in the
// way).
func (n *Node) MkdirAll(path string) syscall.Errno {
	fs := &n.fs
	p := []byte(path)
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		links := 0
		res, errno := fs.walk(fs.root, p[:i], true, &links)
		switch {
		case errno != 0:
			return errno
		case res.ino != nil && res.ino.kind != kindDir:
			return syscall.ENOTDIR
		case res.ino != nil:
			continue
		}
		fs.create(res, kindDir, 0o755, nil)
		fs.syncDir(res.parent)
	}
	return 0
}

// WriteFile creates the file at path (and its missing parent
// directories), or truncates it, and fills it with a copy of data, durable
// as if it and its directory had been synced.
func (n *Node) WriteFile(path string, data []byte) {
	fs := &n.fs
	p := []byte(path)
	if i := lastSlash(p); i > 0 {
		if errno := n.MkdirAll(path[:i]); errno != 0 {
			panic("simcore: WriteFile " + path + ": " + errno.Error())
		}
	}
	links := 0
	res, errno := fs.walk(fs.root, p, true, &links)
	if errno == 0 && res.ino == nil && (res.parent == nil || isDots(res.name)) {
		errno = syscall.EISDIR
	}
	if errno != 0 || (res.ino != nil && res.ino.kind != kindFile) {
		panic("simcore: WriteFile " + path + ": not a regular file")
	}
	ino := res.ino
	if ino == nil {
		ino = fs.create(res, kindFile, 0o644, nil)
		fs.syncDir(res.parent)
	}
	ino.data.resize(0)
	ino.data.copyIn(data, 0)
	ino.data.sizeBytes = int64(len(data))
	ino.durable = ino.data.clone()
	clear(ino.dirty)
	clear(ino.bad)
}

func lastSlash(p []byte) int {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return i
		}
	}
	return -1
}

// lookupFile resolves an absolute path (following symlinks) to a regular
// file, or nil.
func (n *Node) lookupFile(path string) *inode {
	links := 0
	res, errno := n.fs.walk(n.fs.root, []byte(path), true, &links)
	if errno != 0 || res.ino == nil || res.ino.kind != kindFile {
		return nil
	}
	return res.ino
}

// ReadFile returns a copy of what reads of the file at path see, and
// whether it exists (as a regular file, symlinks followed).
func (n *Node) ReadFile(path string) ([]byte, bool) {
	ino := n.lookupFile(path)
	if ino == nil {
		return nil, false
	}
	data := make([]byte, ino.data.sizeBytes) // a sparse file's holes too: mind huge ones
	ino.data.copyOut(data, 0)
	return data, true
}

// Lstat describes what path names, as lstat(2) does (a final symlink is
// not followed).
func (n *Node) Lstat(path string) (Stat, syscall.Errno) {
	links := 0
	res, errno := n.fs.walk(n.fs.root, []byte(path), false, &links)
	switch {
	case errno != 0:
		return Stat{}, errno
	case res.ino == nil:
		return Stat{}, syscall.ENOENT
	}
	var st Stat
	n.fs.fillStat(&st, res.ino)
	return st, 0
}

// Exists reports whether path names anything (a dangling symlink counts).
func (n *Node) Exists(path string) bool {
	_, errno := n.Lstat(path)
	return errno == 0
}

// Readlink returns a symlink's target.
func (n *Node) Readlink(path string) (string, syscall.Errno) {
	links := 0
	res, errno := n.fs.walk(n.fs.root, []byte(path), false, &links)
	switch {
	case errno != 0:
		return "", errno
	case res.ino == nil:
		return "", syscall.ENOENT
	case res.ino.kind != kindSymlink:
		return "", syscall.EINVAL
	}
	return string(res.ino.target), 0
}

// Open opens path as open(2) would, with Open* flags, and returns the
// descriptor.
func (n *Node) Open(path string, flags uint32) (int, syscall.Errno) {
	req := Request{FD: AtCWD, Path: []byte(path), Flags: flags}
	if res := n.openAt(&req); res < 0 {
		return -1, syscall.Errno(-res)
	} else {
		return int(res), 0
	}
}

// Seek moves the position of an open file as lseek(2) does (whence 0, 1,
// 2: from the start, the position, the end) and returns it.
func (n *Node) Seek(fd int, offset int64, whence int) (int64, syscall.Errno) {
	e := n.fdEntry(fd)
	switch {
	case e == nil:
		return -1, syscall.EBADF
	case e.file == nil:
		return -1, syscall.ESPIPE
	}
	f := e.file
	switch whence {
	case 0:
	case 1:
		offset += f.pos
	case 2:
		offset += f.ino.data.sizeBytes
	default:
		return -1, syscall.EINVAL
	}
	if offset < 0 {
		return -1, syscall.EINVAL
	}
	f.pos = offset
	return offset, 0
}

// SetLingerZero is setsockopt(SO_LINGER) with l_onoff 1 and l_linger 0:
// closing the socket then resets the connection instead of ending it with
// a FIN.
func (n *Node) SetLingerZero(fd int) syscall.Errno {
	e := n.fdEntry(fd)
	switch {
	case e == nil:
		return syscall.EBADF
	case e.sock == nil:
		return syscall.ENOTSOCK
	}
	e.sock.lingerZero = true
	return 0
}
