package ioloop

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// Conformance tests of the file operations (Read, Write, Readv, Writev,
// Fsync, Fdatasync, Close, OpenAt, Statx) and the O_DIRECT helpers, on real
// files in t.TempDir().

func TestReadWrite(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, fd := tempFile(t, l, []byte("0123456789"))
		var r opResult
		var c Completion
		write := func(buf []byte, offset int64) {
			t.Helper()
			r = opResult{}
			Write(l, &c, fd, buf, offset, &r, (*opResult).onCount)
			await(t, l, &r)
			wantN(t, fmt.Sprintf("Write(%q, %d)", buf, offset), &r, len(buf))
		}
		read := func(size int, offset int64) []byte {
			t.Helper()
			buf := make([]byte, size)
			r = opResult{}
			Read(l, &c, fd, buf, offset, &r, (*opResult).onCount)
			await(t, l, &r)
			if r.err != nil {
				t.Fatalf("Read(%d, %d): n=%d err=%v", size, offset, r.n, r.err)
			}
			return buf[:r.n]
		}

		// Explicit offsets, which leave the file position alone.
		write([]byte("abc"), 3)
		wantFile(t, l, path, []byte("012abc6789"))
		if got := read(4, 2); string(got) != "2abc" {
			t.Fatalf("Read at 2 = %q, want %q", got, "2abc")
		}
		if pos := currentOffset(t, l, fd); pos != 0 {
			t.Fatalf("file position %d after positioned I/O, want 0", pos)
		}
		// A read past the end is short, not an error.
		if got := read(100, 7); string(got) != "789" {
			t.Fatalf("Read of 100 at 7 = %q, want %q", got, "789")
		}
		// A write past the end extends the file with a hole.
		write([]byte("Z"), 12)
		wantFile(t, l, path, []byte("012abc6789\x00\x00Z"))

		// Offset -1: the current position, which advances.
		if got := read(4, -1); string(got) != "012a" {
			t.Fatalf("Read at -1 = %q, want %q", got, "012a")
		}
		if pos := currentOffset(t, l, fd); pos != 4 {
			t.Fatalf("file position %d after reading 4 bytes at -1, want 4", pos)
		}
		if got := read(3, -1); string(got) != "bc6" {
			t.Fatalf("second Read at -1 = %q, want %q", got, "bc6")
		}
		write([]byte("XY"), -1)
		if pos := currentOffset(t, l, fd); pos != 9 {
			t.Fatalf("file position %d after writing 2 bytes at -1, want 9", pos)
		}
		wantFile(t, l, path, []byte("012abc6XY9\x00\x00Z"))

		// End of file: 0 and io.EOF, at the size, beyond it, and at -1.
		for _, offset := range []int64{13, 1000} {
			buf := make([]byte, 8)
			r = opResult{}
			Read(l, &c, fd, buf, offset, &r, (*opResult).onCount)
			await(t, l, &r)
			if r.n != 0 || r.err != io.EOF {
				t.Fatalf("Read at %d (EOF) = %d, %v; want 0, io.EOF", offset, r.n, r.err)
			}
		}
		seekFile(t, l, fd, 0, io.SeekEnd)
		r = opResult{}
		Read(l, &c, fd, make([]byte, 8), -1, &r, (*opResult).onCount)
		await(t, l, &r)
		if r.n != 0 || r.err != io.EOF {
			t.Fatalf("Read at -1 at end of file = %d, %v; want 0, io.EOF", r.n, r.err)
		}
		// Reading into an empty buffer is not end of file.
		r = opResult{}
		Read(l, &c, fd, nil, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Read into an empty buffer", &r, 0)
	})
}

func TestReadWriteErrors(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, _ := tempFile(t, l, []byte("read only"))
		roFD := openFile(t, l, path, sysO_RDONLY)
		woFD := openFile(t, l, path, sysO_WRONLY)
		type errCase struct {
			name  string
			write bool
			fd    int
			want  error
		}
		cases := []errCase{
			{"Write to a read-only fd", true, roFD, syscall.EBADF},
			{"Read from a write-only fd", false, woFD, syscall.EBADF},
			{"Write to a bad fd", true, badFD, syscall.EBADF},
			{"Read from a bad fd", false, badFD, syscall.EBADF},
		}
		dirFD := openFile(t, l, tempDir(t, l), sysO_RDONLY|sysO_DIRECTORY)
		cases = append(cases, errCase{"Read from a directory", false, dirFD, syscall.EISDIR})

		buf := []byte("data")
		for _, tc := range cases {
			var r opResult
			var c Completion
			if tc.write {
				Write(l, &c, tc.fd, buf, 0, &r, (*opResult).onCount)
			} else {
				Read(l, &c, tc.fd, make([]byte, 4), 0, &r, (*opResult).onCount)
			}
			await(t, l, &r)
			wantErr(t, tc.name, &r, tc.want)
			if r.n != 0 {
				t.Fatalf("%s: n=%d with an error, want 0", tc.name, r.n)
			}
		}
		wantFile(t, l, path, []byte("read only"))
	})
}

func TestReadvWritev(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, fd := tempFile(t, l, nil)
		var r opResult
		var c Completion

		r = opResult{}
		Writev(l, &c, fd, [][]byte{[]byte("ab"), nil, []byte("cde"), []byte("fghi")}, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Writev", &r, 9)
		wantFile(t, l, path, []byte("abcdefghi"))

		// At -1: the current position (0), which advances.
		r = opResult{}
		Writev(l, &c, fd, [][]byte{[]byte("12"), []byte("34")}, -1, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Writev at -1", &r, 4)
		wantFile(t, l, path, []byte("1234efghi"))
		if pos := currentOffset(t, l, fd); pos != 4 {
			t.Fatalf("file position %d after Writev at -1, want 4", pos)
		}

		// Readv fills the buffers in order.
		bufs := [][]byte{make([]byte, 2), make([]byte, 3), make([]byte, 4)}
		r = opResult{}
		Readv(l, &c, fd, bufs, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Readv", &r, 9)
		if got := string(bytes.Join(bufs, []byte("|"))); got != "12|34e|fghi" {
			t.Fatalf("Readv filled %q", got)
		}

		// Short: fills a prefix of the buffers.
		bufs = [][]byte{make([]byte, 2), make([]byte, 3), make([]byte, 4)}
		r = opResult{}
		Readv(l, &c, fd, bufs, 5, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Readv at 5", &r, 4)
		if got := string(bytes.Join(bufs, []byte("|"))); got != "fg|hi\x00|\x00\x00\x00\x00" {
			t.Fatalf("Readv at 5 filled %q", got)
		}

		// At -1: from the current position (4), which advances.
		bufs = [][]byte{make([]byte, 1), make([]byte, 2)}
		r = opResult{}
		Readv(l, &c, fd, bufs, -1, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Readv at -1", &r, 3)
		if got := string(bytes.Join(bufs, []byte("|"))); got != "e|fg" {
			t.Fatalf("Readv at -1 filled %q", got)
		}
		if pos := currentOffset(t, l, fd); pos != 7 {
			t.Fatalf("file position %d after Readv at -1, want 7", pos)
		}

		// At end of file: 0 and io.EOF.
		r = opResult{}
		Readv(l, &c, fd, [][]byte{make([]byte, 4), make([]byte, 4)}, 9, &r, (*opResult).onCount)
		await(t, l, &r)
		if r.n != 0 || r.err != io.EOF {
			t.Fatalf("Readv at EOF = %d, %v; want 0, io.EOF", r.n, r.err)
		}

		// Many buffers, then fewer, on the same Completion (its iovec
		// storage grows once and is reused).
		many := make([][]byte, 64)
		var want []byte
		for i := range many {
			many[i] = pattern(i%7+1, uint32(i+1))
			want = append(want, many[i]...)
		}
		r = opResult{}
		Writev(l, &c, fd, many, 100, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Writev of 64 buffers", &r, len(want))
		back := make([][]byte, len(many))
		for i := range back {
			back[i] = make([]byte, len(many[i]))
		}
		r = opResult{}
		Readv(l, &c, fd, back, 100, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Readv of 64 buffers", &r, len(want))
		if got := bytes.Join(back, nil); !bytes.Equal(got, want) {
			t.Fatal("Readv of 64 buffers returned different bytes than Writev wrote")
		}
		bufs = [][]byte{make([]byte, 3)}
		r = opResult{}
		Readv(l, &c, fd, bufs, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Readv of 1 buffer after 64", &r, 3)
		if string(bufs[0]) != "123" {
			t.Fatalf("Readv filled %q", bufs[0])
		}
	})
}

func TestReadvWritevErrors(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, _ := tempFile(t, l, []byte("read only"))
		roFD := openFile(t, l, path, sysO_RDONLY)
		var r opResult
		var c Completion
		Writev(l, &c, roFD, [][]byte{[]byte("a"), []byte("b")}, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantErr(t, "Writev to a read-only fd", &r, syscall.EBADF)
		r = opResult{}
		Readv(l, &c, badFD, [][]byte{make([]byte, 4)}, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantErr(t, "Readv from a bad fd", &r, syscall.EBADF)
		r = opResult{}
		Writev(l, &c, badFD, [][]byte{make([]byte, 4)}, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantErr(t, "Writev to a bad fd", &r, syscall.EBADF)
		wantFile(t, l, path, []byte("read only"))
	})
}

func TestFsync(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, fd := tempFile(t, l, nil)
		socket := tcpSocket(t, l, loopback4)
		type syncOp func(l *Loop, c *Completion, fd int, ctx *opResult, cb func(*opResult, *Completion, error))
		for _, op := range []struct {
			name string
			sync syncOp
		}{
			{"Fsync", Fsync[opResult]},
			{"Fdatasync", Fdatasync[opResult]},
		} {
			t.Run(op.name, func(t *testing.T) {
				var w, r opResult
				var c Completion
				Write(l, &c, fd, []byte(op.name), 0, &w, (*opResult).onCount)
				await(t, l, &w)
				wantN(t, "Write", &w, len(op.name))
				op.sync(l, &c, fd, &r, (*opResult).onErr)
				await(t, l, &r)
				wantOK(t, op.name, &r)
				wantFile(t, l, path, []byte(op.name))

				r = opResult{}
				op.sync(l, &c, badFD, &r, (*opResult).onErr)
				await(t, l, &r)
				wantErr(t, op.name+" on a bad fd", &r, syscall.EBADF)

				r = opResult{}
				op.sync(l, &c, socket, &r, (*opResult).onErr)
				await(t, l, &r)
				wantErr(t, op.name+" on a socket", &r, syscall.EINVAL)
			})
		}
	})
}

func TestClose(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for _, kind := range []string{"file", "socket"} {
			t.Run(kind, func(t *testing.T) {
				var fd int
				var err error
				switch {
				case kind == "socket":
					fd, err = l.TCPSocket(loopback4)
				case simOf(l) != nil:
					var errno syscall.Errno
					if fd, errno = simOf(l).node.Open("/tmp/file", simOpenFlags(sysO_CREAT|sysO_RDWR)); errno != 0 {
						err = errno
					}
				default:
					path := filepath.Join(kernelTempDir(t), "file")
					if err = os.WriteFile(path, nil, 0o600); err == nil {
						fd = openKernelFile(t, path, sysO_RDWR)
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				f := trackFD(t, l, fd)
				if !fdIsOpen(t, l, fd) {
					t.Fatal("fd not open before Close")
				}
				var r opResult
				var c Completion
				Close(l, &c, fd, &r, (*opResult).onErr)
				await(t, l, &r)
				f.closed = true
				wantOK(t, "Close", &r)
				if fdIsOpen(t, l, fd) {
					t.Fatalf("fd %d is still open after Close", fd)
				}
			})
		}
		t.Run("bad fd", func(t *testing.T) {
			var r opResult
			var c Completion
			Close(l, &c, badFD, &r, (*opResult).onErr)
			await(t, l, &r)
			wantErr(t, "Close of a bad fd", &r, syscall.EBADF)
		})
	})
}

func TestAlignedBuffer(t *testing.T) {
	for _, size := range []int{0, 1, 511, 4096, 10000, 1 << 20} {
		for _, align := range []int{0, 1, 2, 512, 4096, 65536} {
			buf := AlignedBuffer(size, align)
			wantAlign := align
			if wantAlign == 0 {
				wantAlign = DirectAlignment
			}
			if len(buf) != size || cap(buf) != size {
				t.Fatalf("AlignedBuffer(%d, %d): len %d cap %d, want %d", size, align, len(buf), cap(buf), size)
			}
			if size > 0 {
				if addr := uintptr(unsafe.Pointer(&buf[0])); addr%uintptr(wantAlign) != 0 {
					t.Fatalf("AlignedBuffer(%d, %d) at %#x, not %d-aligned", size, align, addr, wantAlign)
				}
			}
			for i, b := range buf {
				if b != 0 {
					t.Fatalf("AlignedBuffer(%d, %d)[%d] = %d, want zeroed", size, align, i, b)
				}
			}
		}
	}
	for _, bad := range []struct{ size, align int }{{4096, 3}, {4096, 6}, {4096, 4095}, {4096, -4096}, {-1, 4096}} {
		func() {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.Contains(msg, "AlignedBuffer") {
					t.Errorf("AlignedBuffer(%d, %d): panic %q, want a panic naming AlignedBuffer", bad.size, bad.align, msg)
				}
			}()
			AlignedBuffer(bad.size, bad.align)
		}()
	}
}
