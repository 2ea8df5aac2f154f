package ioloop

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
)

// Registered files and buffers (ops_fixed.go): the same results on every
// backend, which on io_uring use the kernel's registered resources and
// elsewhere validate and run plain operations.

func TestFixedBuffersReadWrite(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		content := pattern(64<<10, 31)
		_, fd := tempFile(t, l, content)
		region := AlignedBuffer(32<<10, DirectAlignment)
		other := make([]byte, 8<<10)
		if err := l.RegisterBuffers([][]byte{region, other}); err != nil {
			t.Fatalf("RegisterBuffers: %v", err)
		}
		for _, registered := range []bool{false, true} {
			name := "plain fd"
			if registered {
				name = "registered fd"
				if err := l.RegisterFile(fd); err != nil {
					t.Fatalf("RegisterFile: %v", err)
				}
			}
			t.Run(name, func(t *testing.T) {
				// A read into the middle of the first buffer, at an offset.
				var r opResult
				var c Completion
				dst := region[4096 : 4096+8192]
				ReadFixed(l, &c, fd, dst, 12288, &r, (*opResult).onCount)
				await(t, l, &r)
				wantN(t, "ReadFixed", &r, len(dst))
				if !bytes.Equal(dst, content[12288:12288+8192]) {
					t.Fatal("ReadFixed read other bytes than the file's")
				}
				// A write from the second buffer, read back with a plain Read.
				src := other[100:3100]
				copy(src, pattern(len(src), 32))
				r = opResult{}
				WriteFixed(l, &c, fd, src, 40000, &r, (*opResult).onCount)
				await(t, l, &r)
				wantN(t, "WriteFixed", &r, len(src))
				back := make([]byte, len(src))
				r = opResult{}
				Read(l, &c, fd, back, 40000, &r, (*opResult).onCount)
				await(t, l, &r)
				wantN(t, "Read back", &r, len(src))
				if !bytes.Equal(back, src) {
					t.Fatal("WriteFixed wrote other bytes than its buffer's")
				}
				// End of file: 0 and io.EOF, as Read.
				r = opResult{}
				ReadFixed(l, &c, fd, region[:4096], int64(len(content)), &r, (*opResult).onCount)
				await(t, l, &r)
				if r.n != 0 || r.err == nil || r.err.Error() != "EOF" {
					t.Fatalf("ReadFixed at end of file: n=%d err=%v, want 0 and io.EOF", r.n, r.err)
				}
				// Offsets follow Read's rules.
				r = opResult{}
				ReadFixed(l, &c, fd, region[:4096], -2, &r, (*opResult).onCount)
				await(t, l, &r)
				wantErr(t, "ReadFixed at offset -2", &r, syscall.EINVAL)
			})
		}
	})
}

func TestFixedBufferOutsideRegisteredMemory(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		_, fd := tempFile(t, l, pattern(16<<10, 33))
		region := make([]byte, 8192)
		unregistered := make([]byte, 4096)
		check := func(what string, buf []byte) {
			t.Helper()
			for _, write := range []bool{false, true} {
				var r opResult
				var c Completion
				if write {
					WriteFixed(l, &c, fd, buf, 0, &r, (*opResult).onCount)
				} else {
					ReadFixed(l, &c, fd, buf, 0, &r, (*opResult).onCount)
				}
				if r.calls != 0 {
					t.Fatalf("%s: callback ran synchronously", what)
				}
				await(t, l, &r)
				wantErr(t, what, &r, ErrNotRegistered)
				if !errors.Is(r.err, syscall.EFAULT) {
					t.Fatalf("%s: %v does not match EFAULT", what, r.err)
				}
			}
		}
		check("no buffers registered", region[:4096])
		registered := region[:6144]
		if err := l.RegisterBuffers([][]byte{registered}); err != nil {
			t.Fatalf("RegisterBuffers: %v", err)
		}
		check("a buffer outside the registered ones", unregistered)
		check("a nil buffer", nil)
		check("a buffer that runs past the registered one's end", region[4096:8192])
		check("a buffer that starts before the registered one", region[:8192])
		check("a copy of a registered buffer", append([]byte(nil), registered...))
		// The registered memory reads fine, whole or in part.
		var r opResult
		var c Completion
		ReadFixed(l, &c, fd, registered, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "ReadFixed of the whole registered buffer", &r, len(registered))
		r = opResult{}
		ReadFixed(l, &c, fd, registered[6000:], 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "ReadFixed of the registered buffer's tail", &r, 144)
		if err := l.UnregisterBuffers(); err != nil {
			t.Fatalf("UnregisterBuffers: %v", err)
		}
		check("after UnregisterBuffers", region[:4096])
	})
}

func TestRegisterBuffersErrors(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for _, tc := range []struct {
			name string
			bufs [][]byte
		}{
			{"none", nil},
			{"an empty buffer", [][]byte{make([]byte, 16), {}}},
			{"too many", make([][]byte, maxRegisteredBuffers+1)},
		} {
			if err := l.RegisterBuffers(tc.bufs); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("RegisterBuffers(%s): %v, want EINVAL", tc.name, err)
			}
		}
		// Replacing: the first set is gone, the second serves.
		_, fd := tempFile(t, l, pattern(4096, 34))
		first, second := make([]byte, 4096), make([]byte, 4096)
		if err := l.RegisterBuffers([][]byte{first}); err != nil {
			t.Fatal(err)
		}
		if err := l.RegisterBuffers([][]byte{second}); err != nil {
			t.Fatal(err)
		}
		var r opResult
		var c Completion
		ReadFixed(l, &c, fd, first, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantErr(t, "ReadFixed into a replaced buffer", &r, ErrNotRegistered)
		r = opResult{}
		ReadFixed(l, &c, fd, second, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "ReadFixed into the replacing buffer", &r, 4096)
	})
}

func TestRegisterFileErrors(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		for _, fd := range []int{-1, badFD, 1 << 30} {
			if err := l.RegisterFile(fd); !errors.Is(err, syscall.EBADF) {
				t.Fatalf("RegisterFile(%d): %v, want EBADF", fd, err)
			}
		}
		_, fd := tempFile(t, l, []byte("registered"))
		if err := l.UnregisterFile(fd); !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("UnregisterFile of a descriptor never registered: %v, want ENOENT", err)
		}
		if err := l.RegisterFile(fd); err != nil {
			t.Fatalf("RegisterFile: %v", err)
		}
		if err := l.RegisterFile(fd); !errors.Is(err, syscall.EEXIST) {
			t.Fatalf("second RegisterFile: %v, want EEXIST", err)
		}
		if err := l.UnregisterFile(fd); err != nil {
			t.Fatalf("UnregisterFile: %v", err)
		}
		if err := l.UnregisterFile(fd); !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("second UnregisterFile: %v, want ENOENT", err)
		}
		if err := l.RegisterFile(fd); err != nil {
			t.Fatalf("RegisterFile after UnregisterFile: %v", err)
		}
		if l.fixed.files != 1 {
			t.Fatalf("%d registered descriptors, want 1", l.fixed.files)
		}
	})
}

func TestRegisterFileTableFull(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		// MaxRegisteredFiles descriptors: dups of one socket (sockets of
		// the node on the simulator).
		base := tcpSocket(t, l, loopback4)
		fds := make([]int, 0, MaxRegisteredFiles+1)
		for len(fds) < MaxRegisteredFiles+1 {
			fd := base
			if len(fds) > 0 {
				if simOf(l) != nil {
					fd = tcpSocket(t, l, loopback4)
				} else {
					var err error
					if fd, err = dupSocket(base); err != nil {
						t.Skipf("cannot open %d descriptors: %v", MaxRegisteredFiles+1, err)
					}
					closeOnCleanup(t, fd)
				}
			}
			fds = append(fds, fd)
		}
		for i, fd := range fds[:MaxRegisteredFiles] {
			if err := l.RegisterFile(fd); err != nil {
				t.Fatalf("RegisterFile of descriptor %d of %d: %v", i+1, MaxRegisteredFiles, err)
			}
		}
		last := fds[MaxRegisteredFiles]
		if err := l.RegisterFile(last); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("RegisterFile beyond MaxRegisteredFiles: %v, want ENOSPC", err)
		}
		// A freed slot is reused.
		if err := l.UnregisterFile(fds[7]); err != nil {
			t.Fatal(err)
		}
		if err := l.RegisterFile(last); err != nil {
			t.Fatalf("RegisterFile after a slot was freed: %v", err)
		}
	})
}

func TestRegisteredFileOperations(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPairTracked(t, l, loopback4)
		for _, fd := range []int{client.fd, server.fd} {
			if err := l.RegisterFile(fd); err != nil {
				t.Fatalf("RegisterFile(%d): %v", fd, err)
			}
		}
		// Both directions, with Send, SendZC, Write, Recv and Read.
		msg := pattern(3000, 35)
		in := make([]byte, len(msg))
		for _, way := range []struct {
			name     string
			from, to int
			send     func(c *Completion, r *opResult)
		}{
			{"Send", client.fd, server.fd, func(c *Completion, r *opResult) { Send(l, c, client.fd, msg, r, (*opResult).onCount) }},
			{"SendZC", server.fd, client.fd, func(c *Completion, r *opResult) { SendZC(l, c, server.fd, msg, r, (*opResult).onCount) }},
			{"Write", client.fd, server.fd, func(c *Completion, r *opResult) { Write(l, c, client.fd, msg, -1, r, (*opResult).onCount) }},
		} {
			var sr, rr opResult
			var sc, rc Completion
			way.send(&sc, &sr)
			await(t, l, &sr)
			wantN(t, way.name+" on a registered socket", &sr, len(msg))
			for got := 0; got < len(msg); {
				rr = opResult{}
				if got%2 == 0 {
					Recv(l, &rc, way.to, in[got:], &rr, (*opResult).onCount)
				} else {
					Read(l, &rc, way.to, in[got:], -1, &rr, (*opResult).onCount)
				}
				await(t, l, &rr)
				if rr.err != nil {
					t.Fatalf("receiving what %s sent: %v", way.name, rr.err)
				}
				got += rr.n
			}
			if !bytes.Equal(in, msg) {
				t.Fatalf("%s on a registered socket: the peer received other bytes", way.name)
			}
		}
		// Unregistered, the descriptor works as before.
		if err := l.UnregisterFile(client.fd); err != nil {
			t.Fatal(err)
		}
		var sr, rr opResult
		var sc, rc Completion
		Send(l, &sc, client.fd, msg[:10], &sr, (*opResult).onCount)
		Recv(l, &rc, server.fd, in, &rr, (*opResult).onCount)
		await(t, l, &sr, &rr)
		wantN(t, "Send after UnregisterFile", &sr, 10)
		wantN(t, "Recv", &rr, 10)
		if err := l.RegisterFile(client.fd); err != nil {
			t.Fatal(err)
		}

		// Closing the registered server end through the loop closes the
		// socket for real: the client sees end of stream. (Were the
		// kernel's table still holding the file, it never would.)
		server.closed = true
		var cr opResult
		var cc Completion
		Close(l, &cc, server.fd, &cr, (*opResult).onErr)
		await(t, l, &cr)
		wantOK(t, "Close of a registered socket", &cr)
		simSettle(t, l)
		if fdIsOpen(t, l, server.fd) && simOf(l) == nil {
			t.Fatalf("fd %d still open after Close", server.fd)
		}
		if err := l.UnregisterFile(server.fd); !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("UnregisterFile after Close: %v, want ENOENT (Close unregisters)", err)
		}
		rr = opResult{}
		Recv(l, &rc, client.fd, in, &rr, (*opResult).onCount)
		await(t, l, &rr)
		if rr.n != 0 || rr.err == nil || rr.err.Error() != "EOF" {
			t.Fatalf("Recv after the peer's registered socket was closed: n=%d err=%v, want io.EOF", rr.n, rr.err)
		}
	})
}

func TestRegisteredFileIO(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		content := pattern(16<<10, 36)
		path, fd := tempFile(t, l, content)
		if err := l.RegisterFile(fd); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		var r opResult
		var c Completion
		Read(l, &c, fd, buf, 4096, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Read of a registered file", &r, 4096)
		if !bytes.Equal(buf, content[4096:8192]) {
			t.Fatal("Read of a registered file read other bytes")
		}
		r = opResult{}
		Writev(l, &c, fd, [][]byte{[]byte("ab"), []byte("cd")}, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Writev to a registered file", &r, 4)
		r = opResult{}
		Fsync(l, &c, fd, &r, (*opResult).onErr)
		await(t, l, &r)
		wantOK(t, "Fsync of a registered file", &r)
		want := append([]byte("abcd"), content[4:]...)
		wantFile(t, l, path, want)
		r = opResult{}
		Close(l, &c, fd, &r, (*opResult).onErr)
		await(t, l, &r)
		wantOK(t, "Close of a registered file", &r)
		disownFD(fd)
		if l.fixed.files != 0 {
			t.Fatalf("%d descriptors registered after Close, want 0", l.fixed.files)
		}
	})
}
