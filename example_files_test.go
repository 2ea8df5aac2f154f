//go:build !windows

package ioloop_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// exampleDir makes a temporary directory for an example; the caller
// removes it.
func exampleDir() string {
	dir, err := os.MkdirTemp("", "ioloop-example")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

// exampleFile opens the file name, with open(2) flags (plus O_CLOEXEC)
// and mode 0o600, in a new temporary directory; the caller removes dir.
func exampleFile(name string, flags int) (dir, path string, fd int) {
	dir = exampleDir()
	path = filepath.Join(dir, name)
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o600)
	if err != nil {
		os.RemoveAll(dir)
		log.Fatal(err)
	}
	return dir, path, fd
}

// A fileOp is what the file examples below have in common: a file that
// the loop owns, one Completion for the steps on it, which run one after
// another, and the first error.
type fileOp struct {
	loop *ioloop.Loop
	fd   int
	c    ioloop.Completion
	err  error
}

// finish records err (nil when all went well) and closes the file.
func (f *fileOp) finish(err error) {
	f.err = err
	ioloop.Close(f.loop, &f.c, f.fd, f, (*fileOp).onClose)
}

func (f *fileOp) onClose(_ *ioloop.Completion, err error) {
	if f.err == nil {
		f.err = err // the descriptor is released all the same
	}
}

// openResult records what an OpenAt called back with.
type openResult struct {
	fd  int
	err error
}

func (r *openResult) onOpen(_ *ioloop.Completion, fd int, err error) { r.fd, r.err = fd, err }

// ExampleOpenAt opens two files in one batch: one that does not exist,
// whose error matches fs.ErrNotExist, and one it creates. The new
// descriptor is closed with the Close operation.
func ExampleOpenAt() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	dir := exampleDir()
	defer os.RemoveAll(dir)

	var missing, created openResult
	var c1, c2 ioloop.Completion
	ioloop.OpenAt(loop, &c1, unix.AT_FDCWD, filepath.Join(dir, "missing"), unix.O_RDONLY, 0, &missing, (*openResult).onOpen)
	ioloop.OpenAt(loop, &c2, unix.AT_FDCWD, filepath.Join(dir, "new"), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600, &created, (*openResult).onOpen)
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("missing:", errors.Is(missing.err, fs.ErrNotExist), missing.fd)
	fmt.Println("created:", created.err)
	if created.err == nil {
		var closeErr error
		ioloop.Close(loop, &c2, created.fd, &closeErr, onCloseResult)
		if err := loop.Run(); err != nil {
			log.Fatal(err)
		}
		fmt.Println("closed:", closeErr)
	}
	// Output:
	// missing: true -1
	// created: <nil>
	// closed: <nil>
}

// onCloseResult stores the result of a Close in the error it is given as
// context.
func onCloseResult(result *error, _ *ioloop.Completion, err error) { *result = err }

// A hangup closes its end of a connection; the other end's pending Recv
// then completes with io.EOF.
type hangup struct {
	loop   *ioloop.Loop
	fds    [2]int
	recv   ioloop.Completion
	close  ioloop.Completion
	buf    [16]byte
	closed int
}

func (h *hangup) onRecv(_ *ioloop.Completion, n int, err error) {
	switch {
	case errors.Is(err, io.EOF):
		fmt.Println("the other end got io.EOF")
	case err != nil:
		fmt.Println("recv:", err)
	default:
		fmt.Printf("the other end got %q\n", h.buf[:n])
	}
	ioloop.Close(h.loop, &h.recv, h.fds[1], h, (*hangup).onClose)
}

func (h *hangup) onClose(_ *ioloop.Completion, err error) {
	if err != nil {
		fmt.Println("close:", err) // the descriptor is released all the same
	}
	h.closed++
}

// ExampleClose closes one end of a socket pair through the loop, which
// ends the stream for a Recv waiting at the other end, and then closes
// that end too. As with close(2), a descriptor is released even when
// Close reports an error.
func ExampleClose() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, fd := range fds {
		if err := unix.SetNonblock(fd, true); err != nil {
			log.Fatal(err)
		}
	}

	h := &hangup{loop: loop, fds: [2]int(fds)}
	ioloop.Recv(loop, &h.recv, h.fds[1], h.buf[:], h, (*hangup).onRecv)
	ioloop.Close(loop, &h.close, h.fds[0], h, (*hangup).onClose)
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("descriptors closed:", h.closed)
	// Output:
	// the other end got io.EOF
	// descriptors closed: 2
}

// A fileWriter writes all of data to a file from offset 0, continuing
// after short writes, since Write, like pwrite(2), does not loop; then it
// closes the file.
type fileWriter struct {
	fileOp
	data    []byte
	written int
}

func (w *fileWriter) write() {
	rest := w.data[w.written:]
	ioloop.Write(w.loop, &w.c, w.fd, rest, int64(w.written), w, (*fileWriter).onWrite)
}

func (w *fileWriter) onWrite(_ *ioloop.Completion, n int, err error) {
	w.written += n
	if err == nil && w.written < len(w.data) {
		w.write()
		return
	}
	w.finish(err)
}

// ExampleWrite writes a buffer to a new file at explicit offsets, and
// closes it through the loop.
func ExampleWrite() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	dir, path, fd := exampleFile("greeting", unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC)
	defer os.RemoveAll(dir)

	w := &fileWriter{fileOp: fileOp{loop: loop, fd: fd}, data: []byte("hello, file")}
	w.write()
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	if w.err != nil {
		log.Fatal(w.err)
	}
	data, _ := os.ReadFile(path)
	fmt.Printf("wrote %d bytes: %q\n", w.written, data)
	// Output: wrote 11 bytes: "hello, file"
}

// A durableWrite writes a record, makes it durable with Fsync, and closes
// the file. Only a nil error from Fsync means that the record survives a
// crash.
type durableWrite struct {
	fileOp
	record  []byte
	durable bool
}

func (d *durableWrite) onWrite(_ *ioloop.Completion, n int, err error) {
	if err == nil && n < len(d.record) {
		err = io.ErrShortWrite // a full disk, for one; a loop would retry the rest
	}
	if err != nil {
		d.finish(err)
		return
	}
	ioloop.Fsync(d.loop, &d.c, d.fd, d, (*durableWrite).onSync)
}

func (d *durableWrite) onSync(_ *ioloop.Completion, err error) {
	d.durable = err == nil
	d.finish(err)
}

// ExampleFsync writes a record and flushes it to stable storage with Fsync
// before it counts as written. (A new file's name is durable once its
// directory has been synced too: Fsync on a descriptor of the directory.)
func ExampleFsync() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	dir, _, fd := exampleFile("record", unix.O_WRONLY|unix.O_CREAT)
	defer os.RemoveAll(dir)

	d := &durableWrite{fileOp: fileOp{loop: loop, fd: fd}, record: []byte("balance=42\n")}
	ioloop.Write(loop, &d.c, fd, d.record, 0, d, (*durableWrite).onWrite)
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("durable:", d.durable, "error:", d.err)
	// Output: durable: true error: <nil>
}

// A logAppender appends records to a log opened with O_APPEND (offset -1:
// the file's position, which O_APPEND keeps at its end), one after
// another, then commits them all with one Fdatasync: a group commit.
type logAppender struct {
	fileOp
	records   [][]byte
	appended  int
	committed bool
}

func (a *logAppender) appendNext() {
	ioloop.Write(a.loop, &a.c, a.fd, a.records[a.appended], -1, a, (*logAppender).onWrite)
}

func (a *logAppender) onWrite(_ *ioloop.Completion, n int, err error) {
	if err == nil && n < len(a.records[a.appended]) {
		err = io.ErrShortWrite
	}
	if err != nil {
		a.finish(err)
		return
	}
	if a.appended++; a.appended < len(a.records) {
		a.appendNext()
		return
	}
	ioloop.Fdatasync(a.loop, &a.c, a.fd, a, (*logAppender).onSync)
}

func (a *logAppender) onSync(_ *ioloop.Completion, err error) {
	a.committed = err == nil
	a.finish(err)
}

// ExampleFdatasync appends records to a write-ahead log and commits them
// with Fdatasync, which flushes the data and only the metadata needed to
// read it back (the file's size), not its timestamps.
func ExampleFdatasync() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	dir, path, fd := exampleFile("wal", unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND)
	defer os.RemoveAll(dir)

	a := &logAppender{fileOp: fileOp{loop: loop, fd: fd}, records: [][]byte{[]byte("set a 1\n"), []byte("set b 2\n")}}
	a.appendNext()
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	if a.err != nil {
		log.Fatal(a.err)
	}
	wal, _ := os.ReadFile(path)
	fmt.Printf("committed %d records: %v\n%s", a.appended, a.committed, wal)
	// Output:
	// committed 2 records: true
	// set a 1
	// set b 2
}

// ExampleWritev writes a header and a body, two buffers, with one Writev,
// and closes the file through the loop.
func ExampleWritev() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	dir, path, fd := exampleFile("message", unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC)
	defer os.RemoveAll(dir)

	header, body := []byte("0005"), []byte("hello")
	var r ioResult
	var c ioloop.Completion
	ioloop.Writev(loop, &c, fd, [][]byte{header, body}, 0, &r, (*ioResult).onDone)
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	if r.err == nil && r.n < len(header)+len(body) {
		r.err = io.ErrShortWrite
	}
	var closeErr error
	ioloop.Close(loop, &c, fd, &closeErr, onCloseResult)
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	fmt.Printf("wrote %d bytes (%v, close: %v): %q\n", r.n, r.err, closeErr, data)
	// Output: wrote 9 bytes (<nil>, close: <nil>): "0005hello"
}

// ioResult records what a Read, Write, Readv or Writev called back with.
type ioResult struct {
	n   int
	err error
}

func (r *ioResult) onDone(_ *ioloop.Completion, n int, err error) { r.n, r.err = n, err }

// ExampleReadv reads a fixed-size header and the body after it into two
// buffers with one Readv, while a second Readv, at the end of the file,
// gets io.EOF.
func ExampleReadv() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	dir := exampleDir()
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "message")
	const message = "0005hello" // a 4-digit length, then the body
	if err := os.WriteFile(path, []byte(message), 0o600); err != nil {
		log.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		log.Fatal(err)
	}

	var header, header2 [4]byte
	body, body2 := make([]byte, 64), make([]byte, 64)
	var first, atEnd ioResult
	var c1, c2 ioloop.Completion
	ioloop.Readv(loop, &c1, fd, [][]byte{header[:], body}, 0, &first, (*ioResult).onDone)
	ioloop.Readv(loop, &c2, fd, [][]byte{header2[:], body2}, int64(len(message)), &atEnd, (*ioResult).onDone)
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	if first.err != nil || first.n < len(header) {
		log.Fatal("short read: ", first.n, first.err)
	}
	fmt.Printf("header %q, body %q\n", header[:], body[:first.n-len(header)])
	fmt.Println("at the end:", atEnd.n, errors.Is(atEnd.err, io.EOF))

	var closeErr error
	ioloop.Close(loop, &c1, fd, &closeErr, onCloseResult)
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("close:", closeErr)
	// Output:
	// header "0005", body "hello"
	// at the end: 0 true
	// close: <nil>
}
