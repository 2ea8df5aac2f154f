//go:build !windows

package ioloop_test

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// A connection owns its Completions and buffer; its callbacks are methods.
// Passing the method expression (*conn).onRecv with the *conn as context
// costs no allocation per operation.
type conn struct {
	loop    *ioloop.Loop
	fd      int
	buf     [64]byte
	recv    ioloop.Completion
	send    ioloop.Completion
	replied int
}

func (c *conn) start() {
	ioloop.Recv(c.loop, &c.recv, c.fd, c.buf[:], c, (*conn).onRecv)
}

func (c *conn) onRecv(_ *ioloop.Completion, n int, err error) {
	if err != nil {
		return // io.EOF when the peer closed; the example stops here
	}
	ioloop.Send(c.loop, &c.send, c.fd, c.buf[:n], c, (*conn).onSend)
}

func (c *conn) onSend(_ *ioloop.Completion, n int, err error) {
	if err != nil {
		return
	}
	c.replied += n
	c.start() // Completions are reusable as soon as their callback runs.
}

// Example shows an echo handler on one end of a socket pair.
func Example() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()

	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	defer unix.Close(fds[1])
	unix.SetNonblock(fds[0], true) // the loop's end: readiness backends need it non-blocking
	server := &conn{loop: loop, fd: fds[0]}
	server.start()

	unix.Write(fds[1], []byte("hello"))
	unix.Shutdown(fds[1], unix.SHUT_WR)
	loop.RunFor(100 * time.Millisecond)

	reply := make([]byte, 16)
	n, _ := unix.Read(fds[1], reply)
	fmt.Printf("echoed %q\n", reply[:n])
	unix.Close(fds[0])
	// Output: echoed "hello"
}

type timer struct{ fired time.Time }

func (t *timer) onTimeout(_ *ioloop.Completion, err error) {
	if err == nil {
		t.fired = time.Now()
	}
}

// ExampleTimeout waits without a goroutine or a timer channel.
func ExampleTimeout() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()

	var c ioloop.Completion
	t := &timer{}
	start := time.Now()
	ioloop.Timeout(loop, &c, 10*time.Millisecond, t, (*timer).onTimeout)
	loop.Run() // returns when nothing is pending
	fmt.Println("fired after at least 10ms:", t.fired.Sub(start) >= 10*time.Millisecond)
	// Output: fired after at least 10ms: true
}

type cancelDemo struct {
	recvErr, cancelErr error
}

// ExampleCancel cancels a Recv that would otherwise wait forever. Both
// callbacks run exactly once.
func ExampleCancel() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	unix.SetNonblock(fds[0], true)

	demo := &cancelDemo{}
	var recv, cancel ioloop.Completion
	buf := make([]byte, 16)
	ioloop.Recv(loop, &recv, fds[0], buf, demo, func(d *cancelDemo, _ *ioloop.Completion, _ int, err error) {
		d.recvErr = err
	})
	loop.Tick() // the Recv is now waiting in the kernel
	ioloop.Cancel(loop, &cancel, &recv, demo, func(d *cancelDemo, _ *ioloop.Completion, err error) {
		d.cancelErr = err
	})
	loop.Run()
	fmt.Println("recv:", demo.recvErr, "| canceled:", errors.Is(demo.recvErr, ioloop.ErrCanceled))
	fmt.Println("cancel:", demo.cancelErr)
	// Output:
	// recv: ioloop: operation canceled | canceled: true
	// cancel: <nil>
}

type fileJob struct {
	loop *ioloop.Loop
	fd   int
	buf  []byte
	c    ioloop.Completion
	data []byte
}

func (j *fileJob) onRead(_ *ioloop.Completion, n int, err error) {
	if errors.Is(err, io.EOF) {
		return
	}
	if err != nil {
		fmt.Println("read:", err)
		return
	}
	j.data = append(j.data, j.buf[:n]...)
	ioloop.Read(j.loop, &j.c, j.fd, j.buf, int64(len(j.data)), j, (*fileJob).onRead)
}

// ExampleRead reads a whole file at increasing offsets until io.EOF.
func ExampleRead() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()
	dir, _ := os.MkdirTemp("", "ioloop-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "greeting")
	os.WriteFile(path, []byte("hello, io_uring"), 0o600)

	fd, _ := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	defer unix.Close(fd)
	job := &fileJob{loop: loop, fd: fd, buf: make([]byte, 4)}
	ioloop.Read(loop, &job.c, fd, job.buf, 0, job, (*fileJob).onRead)
	loop.Run()
	fmt.Printf("%s\n", job.data)
	// Output: hello, io_uring
}

// ExampleListenTCP opens a listener on an ephemeral port; the returned
// address says which port the kernel chose.
func ExampleListenTCP() {
	fd, addr, err := ioloop.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ioloop.ListenOptions{NoDelay: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Close(fd)
	fmt.Println(addr.Addr(), addr.Port() != 0)
	// Output: 127.0.0.1 true
}

// ExampleAlignedBuffer allocates a buffer suitable for O_DIRECT.
func ExampleAlignedBuffer() {
	buf := ioloop.AlignedBuffer(8192, ioloop.DirectAlignment)
	fmt.Println(len(buf), ioloop.IsAligned(buf, ioloop.DirectAlignment))
	// Output: 8192 true
}
