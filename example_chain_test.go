//go:build !windows

package ioloop_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// logAppend is one append to a write-ahead log: the record's Write and the
// Fdatasync that makes it durable, linked into one chain.
type logAppend struct {
	write, sync ioloop.Completion
	written     int
	err         error
	done        bool
}

func (a *logAppend) onWrite(_ *ioloop.Completion, n int, err error) { a.written, a.err = n, err }

func (a *logAppend) onSync(_ *ioloop.Completion, err error) {
	if a.err == nil {
		a.err = err // ErrChainBroken if the Write failed or was short
	}
	a.done = true
}

// A Write and the Fdatasync that makes it durable, submitted as one chain:
// the Fdatasync starts only once the Write has written the whole record
// (on io_uring the kernel starts it, without a pass of the loop between).
func ExampleLoop_BeginChain() {
	dir, path, fd := exampleFile("wal", unix.O_WRONLY|unix.O_CREAT)
	defer os.RemoveAll(dir)
	l, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	a := &logAppend{}
	l.BeginChain()
	ioloop.Write(l, &a.write, fd, []byte("record 1\n"), 0, a, (*logAppend).onWrite)
	ioloop.Fdatasync(l, &a.sync, fd, a, (*logAppend).onSync)
	l.EndChain()
	for !a.done {
		if err := l.RunFor(10 * time.Millisecond); err != nil {
			log.Fatal(err)
		}
	}
	content, _ := os.ReadFile(path)
	fmt.Printf("wrote %d bytes, durable: %v, file: %q\n", a.written, a.err == nil, content)
	unix.Close(fd)
	// Output: wrote 9 bytes, durable: true, file: "record 1\n"
}

// timedRecv is a Recv that gives up after a time.
type timedRecv struct {
	recv, timeout ioloop.Completion
	buf           [64]byte
	err           error
	done          bool
}

func (r *timedRecv) onRecv(_ *ioloop.Completion, n int, err error) { r.err = err }
func (r *timedRecv) onTimeout(_ *ioloop.Completion, err error)     { r.done = true }

// A Recv bounded by a LinkTimeout: the peer never sends, so after 50 ms
// the Recv is canceled with ErrTimedOut, which matches
// os.ErrDeadlineExceeded as a net.Conn's deadline error does.
func ExampleLinkTimeout() {
	l, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])

	r := &timedRecv{}
	l.BeginChain()
	ioloop.Recv(l, &r.recv, fds[0], r.buf[:], r, (*timedRecv).onRecv)
	ioloop.LinkTimeout(l, &r.timeout, 50*time.Millisecond, r, (*timedRecv).onTimeout)
	l.EndChain()
	for !r.done {
		if err := l.RunFor(10 * time.Millisecond); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(r.err, errors.Is(r.err, os.ErrDeadlineExceeded))
	// Output: ioloop: operation timed out (LinkTimeout) true
}
