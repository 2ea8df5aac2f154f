//go:build amd64 || arm64 || riscv64 || ppc64le || s390x || loong64 || mips64 || mips64le

package ioloop

// Tests of buffers of 2 GiB and more: they need a 64-bit int.

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestReadHugeBuffer(t *testing.T) {
	// One kernel request moves less than 2 GiB and io_uring's length field
	// has 32 bits: buffers of 4 GiB and more must not wrap to a small (or
	// zero: a false io.EOF) length.
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		mem := hugeBuffer(t, 1<<32+4096)
		l = newTestLoop(t, Options{Backend: l.Backend()})
		content := []byte("0123456789")
		_, fd := tempFile(t, l, content)
		for _, size := range []int{1 << 31, 1 << 32, 1<<32 + 1} {
			var r opResult
			var c Completion
			Read(l, &c, fd, mem[:size], 0, &r, (*opResult).onCount)
			await(t, l, &r)
			wantN(t, fmt.Sprintf("Read of a 10-byte file into %d bytes", size), &r, len(content))
			if !bytes.Equal(mem[:10], content) {
				t.Fatalf("Read into %d bytes filled %q", size, mem[:10])
			}
			clear(mem[:10])
		}
	})
}

func TestRecvHugeBuffer(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		mem := hugeBuffer(t, 1<<32)
		l = newTestLoop(t, Options{Backend: l.Backend()})
		client, server := tcpPair(t, l, loopback4)
		writeAll(t, l, client, []byte("tiny"))
		var r opResult
		var c Completion
		Recv(l, &c, server, mem, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Recv into a 4 GiB buffer", &r, 4)
		if string(mem[:4]) != "tiny" {
			t.Fatalf("Recv got %q", mem[:4])
		}
	})
}

func TestSendOver2GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 2 GiB through a socket")
	}
	// One kernel request sends less than 2 GiB; the loop must continue
	// the Send and report the whole count, which does not fit 32 bits.
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		const size = 1<<31 + 1<<20
		data := hugeBuffer(t, size)
		copy(data, pattern(4096, 21)) // first and last pages differ from the zeros between
		copy(data[size-4096:], pattern(4096, 22))
		l = newTestLoop(t, Options{Backend: l.Backend()})
		a, b := newTestFDs(t, l).socketPair()
		start := time.Now()
		var send opResult
		var sc Completion
		Send(l, &sc, a, data, &send, (*opResult).onCount)
		reader := &hugeReader{loop: l, fd: b, buf: make([]byte, 4<<20), want: data, differ: -1}
		Recv(l, &reader.c, reader.fd, reader.buf, reader, (*hugeReader).onRecv)
		runUntil(t, l, 60*time.Second, func() bool {
			return reader.err != nil || (send.done() && (send.err != nil || reader.got >= size))
		})
		if reader.err != nil {
			t.Fatalf("reader: %v after %d bytes", reader.err, reader.got)
		}
		wantN(t, "Send of 2 GiB + 1 MiB", &send, size)
		if reader.got != size || reader.differ >= 0 {
			t.Fatalf("received %d bytes (first difference at %d), want %d identical bytes", reader.got, reader.differ, size)
		}
		t.Logf("2 GiB + 1 MiB sent in %v", time.Since(start))
	})
}
