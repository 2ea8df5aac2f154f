//go:build !windows

package ioloop

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The hostile-descriptor cases (conformance_hostile_test.go) that need
// Unix mechanisms: blocking descriptors, pipes, SIGPIPE.

// offsetTestPipe returns a blocking pipe for TestOffsetRules, on the
// kernel backends (the simulator has no pipes).
func offsetTestPipe(t *testing.T, l *Loop) (r, w int, ok bool) {
	if simOf(l) != nil {
		return -1, -1, false
	}
	r, w = blockingPipe(t)
	return r, w, true
}

// blockingSocketpair returns an AF_UNIX stream pair with O_NONBLOCK clear,
// as os.File.Fd() leaves a descriptor.
func blockingSocketpair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	closeOnCleanup(t, fds[0])
	closeOnCleanup(t, fds[1])
	return fds[0], fds[1]
}

// fillBlocking writes into the blocking descriptor fd until it would
// block, by making it non-blocking for the while.
func fillBlocking(t *testing.T, fd int) {
	t.Helper()
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := unix.Write(fd, chunk); err == syscall.EAGAIN {
			break
		} else if err != nil {
			t.Fatalf("filling fd %d: %v", fd, err)
		}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		t.Fatal(err)
	}
}

// blockingListener returns a loopback TCP listener with O_NONBLOCK clear.
func blockingListener(t *testing.T, backlog int) int {
	t.Helper()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, lfd)
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, backlog); err != nil {
		t.Fatal(err)
	}
	return lfd
}

// fullBacklogListener returns a loopback listener whose accept queue is
// full, so that the kernel drops the next SYN: a blocking connect(2) would
// wait for the retransmission.
func fullBacklogListener(t *testing.T) int {
	t.Helper()
	lfd := blockingListener(t, 0)
	sa, _ := unix.Getsockname(lfd)
	for i := 0; i < 4; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.SetNonblock(fd, true)
		closeOnCleanup(t, fd)
		unix.Connect(fd, sa)
	}
	time.Sleep(10 * time.Millisecond)
	return lfd
}

// unblockingSocket returns a TCP socket with O_NONBLOCK clear, for Connect.
func unblockingSocket(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, fd)
	return fd
}

// rescueWrite, rescueShutdown and rescueDrain end a blocked operation
// from outside the loop: one byte written into fd, fd shut down both
// ways, everything buffered read out of fd.
func rescueWrite(fd int)    { unix.Write(fd, []byte("x")) }
func rescueShutdown(fd int) { unix.Shutdown(fd, unix.SHUT_RDWR) }
func rescueDrain(fd int) {
	unix.SetNonblock(fd, true)
	drain := make([]byte, 64<<10)
	for {
		if _, err := unix.Read(fd, drain); err != nil {
			break
		}
	}
}

// Item 9: Write (not Send) to a socket whose peer has gone returns EPIPE.
// The readiness backends write to a socket with send(MSG_NOSIGNAL), so no
// SIGPIPE is raised; io_uring's IORING_OP_WRITE is write(2), which raises
// it (documented on Write; Go ignores it unless the program asked for it
// with signal.Notify, as this test does).
func TestWriteToSocketWithPeerGone(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "signals")
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, syscall.SIGPIPE)
		defer signal.Stop(sigs)
		a, b := blockingSocketpair(t)
		closeFD(t, nil, b)
		for _, op := range []string{"Write", "Writev"} {
			var r opResult
			var c Completion
			if op == "Write" {
				Write(l, &c, a, []byte("gone"), -1, &r, (*opResult).onCount)
			} else {
				Writev(l, &c, a, [][]byte{[]byte("gone")}, -1, &r, (*opResult).onCount)
			}
			await(t, l, &r)
			wantErr(t, op+" to a socket whose peer closed", &r, syscall.EPIPE)
			raised := false
			select {
			case <-sigs:
				raised = true
			case <-time.After(100 * time.Millisecond):
			}
			wantSignal := l.Backend() == BackendIOUring
			if raised != wantSignal {
				t.Fatalf("%s on %v: SIGPIPE raised = %v, documented %v", op, l.Backend(), raised, wantSignal)
			}
		}
	})
}

// refusesFullBacklog: these systems drop a SYN to a full accept queue.
const refusesFullBacklog = false

// setBlockingMode clears fd's O_NONBLOCK.
func setBlockingMode(t *testing.T, fd int) {
	t.Helper()
	if err := unix.SetNonblock(fd, false); err != nil {
		t.Fatal(err)
	}
}
