package simcore

import "syscall"

// What a test does to a real machine beside the loop under test
// (os.WriteFile, open(2), lseek(2), os.ReadFile, setsockopt(2)), done
// directly on a node: at once, with no latency, no faults and nothing in
// the trace. The conformance tests of package ioloop set up and inspect
// simulated files and sockets with it the way they do real ones.

// WriteFile creates the file at path, or truncates it, and fills it with
// a copy of data, durable as if it had been synced.
func (n *Node) WriteFile(path string, data []byte) {
	fs := &n.fs
	name := cleanPath([]byte(path))
	ino := fs.lookup(name)
	if ino == nil {
		ino = fs.create(name, 0o644)
	}
	ino.data.resize(0)
	ino.data.copyIn(data, 0)
	ino.data.sizeBytes = int64(len(data))
	ino.durable = ino.data.clone()
	clear(ino.dirty)
	clear(ino.bad)
	ino.durableExists = true
}

// ReadFile returns a copy of what reads of the file at path see, and
// whether it exists.
func (n *Node) ReadFile(path string) ([]byte, bool) {
	ino := n.fs.lookup(cleanPath([]byte(path)))
	if ino == nil {
		return nil, false
	}
	data := make([]byte, ino.data.sizeBytes) // a sparse file's holes too: mind huge ones
	ino.data.copyOut(data, 0)
	return data, true
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
