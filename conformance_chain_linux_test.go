package ioloop

import (
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestChainUringWithWorkerOperation(t *testing.T) {
	if !haveIOUring(t) {
		return
	}
	// A Fadvise of 4 GiB or more runs on io_uring's workers (its SQE has
	// 32 bits of length), so the kernel cannot link it: the loop runs the
	// chain, with the same results, including a LinkTimeout that cancels
	// an operation in the kernel.
	l := newTestLoop(t, Options{Backend: BackendIOUring})
	_, fd := tempFile(t, l, []byte("abc"))
	client, _ := tcpPair(t, l, loopback4)
	var cs [4]Completion
	var rs [4]opResult
	l.BeginChain()
	Fadvise(l, &cs[0], fd, 0, 5<<30, unix.FADV_SEQUENTIAL, &rs[0], (*opResult).onErr)
	Recv(l, &cs[1], client, make([]byte, 8), &rs[1], (*opResult).onCount)
	LinkTimeout(l, &cs[2], 20*time.Millisecond, &rs[2], (*opResult).onErr)
	Nop(l, &cs[3], &rs[3], (*opResult).onErr)
	l.EndChain()
	if cs[0].wait.parked != parkedFile {
		t.Fatal("the 5 GiB Fadvise did not go to the workers; this test no longer tests a loop-run chain on io_uring")
	}
	await(t, l, &rs[0], &rs[1], &rs[2], &rs[3])
	wantOK(t, "Fadvise", &rs[0])
	wantErr(t, "Recv", &rs[1], ErrTimedOut)
	wantOK(t, "LinkTimeout", &rs[2])
	wantBroken(t, "Nop", &rs[3])
	wantOrder(t, &rs[0], &rs[1], &rs[2], &rs[3])

	// A failure on the workers breaks the rest.
	rs = [4]opResult{}
	l.BeginChain()
	Fadvise(l, &cs[0], 1<<20, 0, 5<<30, unix.FADV_SEQUENTIAL, &rs[0], (*opResult).onErr)
	Nop(l, &cs[1], &rs[1], (*opResult).onErr)
	l.EndChain()
	await(t, l, &rs[0], &rs[1])
	wantErr(t, "Fadvise of a bad fd", &rs[0], syscall.EBADF)
	wantBroken(t, "Nop", &rs[1])
}
