package ioloop

import (
	"testing"
	"time"

	"github.com/ioloop/ioloop/internal/uring"
)

// On io_uring the opt-in operations must really reach the kernel as what
// they claim: a registered descriptor as its slot with IOSQE_FIXED_FILE,
// ReadFixed and WriteFixed as READ_FIXED and WRITE_FIXED with the buffer's
// index, SendZC as SEND_ZC. The conformance tests see only results, which
// plain operations would give too.
func TestURingFixedSQEs(t *testing.T) {
	l := newTestLoop(t, Options{Backend: BackendIOUring})
	b := l.backend.(*uringBackend)
	_, fd := tempFile(t, l, pattern(8192, 40))
	client, server := tcpPair(t, l, loopback4)
	spare := make([]byte, 4096)
	region := make([]byte, 8192)
	if err := l.RegisterBuffers([][]byte{spare, region}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []int{client, fd} {
		if err := l.RegisterFile(f); err != nil {
			t.Fatal(err)
		}
	}
	var r opResult
	var c Completion
	check := func(what string, opcode uint8, wantFd int32, fixedFile bool) *uring.SQE {
		t.Helper()
		sqe := b.ring.LastSQE()
		if sqe.Opcode != opcode || sqe.Fd != wantFd || (sqe.Flags&uring.SQEFixedFile != 0) != fixedFile {
			t.Fatalf("%s: SQE opcode %s fd %d flags %#x, want %s fd %d fixed file %v",
				what, uring.OpName(sqe.Opcode), sqe.Fd, sqe.Flags, uring.OpName(opcode), wantFd, fixedFile)
		}
		return sqe
	}
	ReadFixed(l, &c, fd, region[100:4196], 0, &r, (*opResult).onCount)
	if sqe := check("ReadFixed on a registered file", uring.OpReadFixed, 1, true); sqe.BufIndex != 1 {
		t.Fatalf("ReadFixed: buf_index %d, want 1", sqe.BufIndex)
	}
	await(t, l, &r)
	wantN(t, "ReadFixed", &r, 4096)
	r = opResult{}
	WriteFixed(l, &c, server, spare[:10], -1, &r, (*opResult).onCount)
	if sqe := check("WriteFixed on an unregistered socket", uring.OpWriteFixed, int32(server), false); sqe.BufIndex != 0 {
		t.Fatalf("WriteFixed: buf_index %d, want 0", sqe.BufIndex)
	}
	await(t, l, &r)
	wantN(t, "WriteFixed", &r, 10)
	r = opResult{}
	Recv(l, &c, client, region, &r, (*opResult).onCount)
	check("Recv on a registered socket", uring.OpRecv, 0, true)
	await(t, l, &r)
	wantN(t, "Recv", &r, 10)
	r = opResult{}
	SendZC(l, &c, client, spare[:100], &r, (*opResult).onCount)
	check("SendZC on a registered socket", uring.OpSendZC, 0, true)
	await(t, l, &r)
	wantN(t, "SendZC", &r, 100)
	if err := l.UnregisterFile(client); err != nil {
		t.Fatal(err)
	}
	r = opResult{}
	Recv(l, &c, server, region, &r, (*opResult).onCount)
	check("Recv after UnregisterFile", uring.OpRecv, int32(server), false)
	await(t, l, &r)
	wantN(t, "Recv", &r, 100)
}

// A kernel without IORING_OP_SEND_ZC (before 6.0) runs SendZC as Send,
// with Send's results.
func TestURingSendZCFallback(t *testing.T) {
	uringPretendMissing = func(opcode uint8) bool { return opcode == uring.OpSendZC }
	l := newTestLoop(t, Options{Backend: BackendIOUring})
	uringPretendMissing = nil
	if l.fixed.nativeSendZC {
		t.Fatal("SEND_ZC counted as supported although the probe pretended it missing")
	}
	client, server := tcpPair(t, l, loopback4)
	data := pattern(3<<20, 44)
	var send opResult
	var sc Completion
	SendZC(l, &sc, client, data, &send, (*opResult).onCount)
	if sqe := uringOf(l).ring.LastSQE(); sqe.Opcode != uring.OpSend {
		t.Fatalf("SendZC without SEND_ZC: SQE opcode %s, want SEND", uring.OpName(sqe.Opcode))
	}
	reader := &hugeReader{loop: l, fd: server, buf: make([]byte, 256<<10), want: data, differ: -1}
	Recv(l, &reader.c, server, reader.buf, reader, (*hugeReader).onRecv)
	runUntil(t, l, 20*time.Second, func() bool { return send.done() && reader.got >= len(data) })
	wantN(t, "SendZC as Send", &send, len(data))
	if reader.differ >= 0 {
		t.Fatalf("peer received other bytes from offset %d", reader.differ)
	}
}
