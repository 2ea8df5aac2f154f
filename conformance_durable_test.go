package ioloop

import (
	"io"
	"syscall"
	"testing"
)

// Conformance of WriteDurable and WritevDurable on every backend: the data
// lands where Write and Writev would put it (at an offset, or at the
// current position, which advances), with the same results and errors.
// That the kernel was asked for durability (RWF_DSYNC, RWF_SYNC) is
// checked in whitebox_durable_linux_test.go; that the simulator keeps the
// write across a crash is the simulator's own test.

var durabilities = []Durability{DataSync, FileSync}

func TestDurableWrite(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for _, d := range durabilities {
			t.Run(d.String(), func(t *testing.T) {
				path, fd := tempFile(t, l, []byte("0123456789"))
				write := func(buf []byte, offset int64) *opResult {
					c, r := new(Completion), new(opResult)
					WriteDurable(l, c, fd, buf, offset, d, r, (*opResult).onCount)
					await(t, l, r)
					return r
				}
				wantN(t, "WriteDurable at 2", write([]byte("ab"), 2), 2)
				wantFile(t, l, path, []byte("01ab456789"))
				wantN(t, "WriteDurable past the end", write([]byte("Z"), 12), 1)
				wantFile(t, l, path, []byte("01ab456789\x00\x00Z"))

				// Offset -1: the current position, which advances.
				seekFile(t, l, fd, 4, io.SeekStart)
				wantN(t, "WriteDurable at the current position", write([]byte("cd"), -1), 2)
				wantN(t, "WriteDurable at the advanced position", write([]byte("ef"), -1), 2)
				wantFile(t, l, path, []byte("01abcdef89\x00\x00Z"))
				if at := currentOffset(t, l, fd); at != 8 {
					t.Fatalf("position after two durable writes at -1 = %d, want 8", at)
				}
				// An offset write leaves the position alone.
				wantN(t, "WriteDurable at 0", write([]byte("X"), 0), 1)
				if at := currentOffset(t, l, fd); at != 8 {
					t.Fatalf("position after a durable write at 0 = %d, want 8", at)
				}
				wantN(t, "WriteDurable of nothing", write(nil, 0), 0)
				wantFile(t, l, path, []byte("X1abcdef89\x00\x00Z"))

				c, r := new(Completion), new(opResult)
				WriteDurable(l, c, badFD, []byte("x"), 0, d, r, (*opResult).onCount)
				await(t, l, r)
				wantErr(t, "WriteDurable to a bad fd", r, syscall.EBADF)
				c, r = new(Completion), new(opResult)
				WriteDurable(l, c, fd, []byte("x"), -2, d, r, (*opResult).onCount)
				await(t, l, r)
				wantErr(t, "WriteDurable at offset -2", r, syscall.EINVAL)
			})
		}
	})
}

func TestDurableWritev(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for _, d := range durabilities {
			t.Run(d.String(), func(t *testing.T) {
				path, fd := tempFile(t, l, []byte("0123456789"))
				writev := func(bufs [][]byte, offset int64) *opResult {
					c, r := new(Completion), new(opResult)
					WritevDurable(l, c, fd, bufs, offset, d, r, (*opResult).onCount)
					await(t, l, r)
					return r
				}
				wantN(t, "WritevDurable at 1", writev([][]byte{[]byte("ab"), nil, []byte("cde")}, 1), 5)
				wantFile(t, l, path, []byte("0abcde6789"))
				seekFile(t, l, fd, 0, io.SeekEnd)
				wantN(t, "WritevDurable at the current position", writev([][]byte{[]byte("X"), []byte("YZ")}, -1), 3)
				wantFile(t, l, path, []byte("0abcde6789XYZ"))
				if at := currentOffset(t, l, fd); at != 13 {
					t.Fatalf("position after a durable Writev at -1 = %d, want 13", at)
				}
				c, r := new(Completion), new(opResult)
				WritevDurable(l, c, badFD, [][]byte{[]byte("x")}, 0, d, r, (*opResult).onCount)
				await(t, l, r)
				wantErr(t, "WritevDurable to a bad fd", r, syscall.EBADF)
			})
		}
	})
}

// TestDurableInvalidPanics: a Durability other than DataSync or FileSync
// (the zero value too: a plain write is Write) is a programming error.
func TestDurableInvalidPanics(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		op := &misuseOp{}
		buf := []byte("x")
		mustPanicWith(t, func() { WriteDurable(l, &op.c, 0, buf, 0, 0, op, (*misuseOp).onIO) },
			"WriteDurable", "invalid Durability", "Durability(0)")
		mustPanicWith(t, func() { WritevDurable(l, &op.c, 0, [][]byte{buf}, 0, Durability(3), op, (*misuseOp).onIO) },
			"WritevDurable", "invalid Durability", "Durability(3)")
		if op.c.Pending() || l.Pending() != 0 {
			t.Fatalf("a rejected durable write left the Completion pending (%v) or the loop with %d pending", op.c.Pending(), l.Pending())
		}
	})
}

// TestDurableOnSocket: a socket has no storage to sync; a durable write
// there is a plain write on every kernel backend (io_uring's socket
// write ignores RWF_DSYNC, the readiness backends send it).
func TestDurableOnSocket(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "a socketpair of the kernel")
		a, b := newTestFDs(t, l).socketPair()
		c, r := new(Completion), new(opResult)
		WriteDurable(l, c, a, []byte("hello"), -1, DataSync, r, (*opResult).onCount)
		await(t, l, r)
		wantN(t, "WriteDurable to a socket", r, 5)
		if got := readAllNonblocking(t, l, b, 5); string(got) != "hello" {
			t.Fatalf("the peer read %q, want %q", got, "hello")
		}
	})
}
