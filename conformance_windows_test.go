package ioloop

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// The conformance cases for Windows. Most conformance files are Unix-only
// (they make pipes, socketpairs and unix sockets, and read socket options
// with x/sys/unix); these cases check the same behaviour for what the IOCP
// backend serves, on IOCP and on the simulator side by side (forEachBackend),
// so that a difference between the two is a failing test. The kernel's
// side of each socket pair is the loop's as well (Accept and Connect).

func TestWindowsTCPRoundTrip(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		msg := pattern(100_000, 7) // more than one segment, and than most socket buffers
		var send, recv opResult
		var sc, rc Completion
		Send(l, &sc, client, msg, &send, (*opResult).onCount)
		got := make([]byte, 0, len(msg))
		buf := make([]byte, 4096)
		for len(got) < len(msg) {
			recv = opResult{}
			Recv(l, &rc, server, buf, &recv, (*opResult).onCount)
			runUntil(t, l, waitLimit, recv.done)
			if recv.err != nil || recv.n <= 0 {
				t.Fatalf("Recv after %d bytes: n=%d err=%v", len(got), recv.n, recv.err)
			}
			got = append(got, buf[:recv.n]...)
		}
		runUntil(t, l, waitLimit, send.done)
		wantN(t, "Send", &send, len(msg))
		if !bytes.Equal(got, msg) {
			t.Fatal("received bytes differ from those sent")
		}
	})
}

func TestWindowsAcceptReportsAddresses(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		lfd, bound := listenTCP(t, l, loopback4)
		client, server := connectTo(t, l, lfd, bound)
		local, err := l.LocalAddr(server.fd)
		if err != nil || local != bound {
			t.Fatalf("accepted socket's LocalAddr = %v, %v; want %v", local, err, bound)
		}
		peer, err := l.RemoteAddr(server.fd)
		clientLocal, err2 := l.LocalAddr(client.fd)
		if err != nil || err2 != nil || peer != clientLocal {
			t.Fatalf("RemoteAddr(server) = %v, %v; client's LocalAddr = %v, %v", peer, err, clientLocal, err2)
		}
		if remote, err := l.RemoteAddr(client.fd); err != nil || remote != bound {
			t.Fatalf("connected socket's RemoteAddr = %v, %v; want %v", remote, err, bound)
		}
	})
}

func TestWindowsRecvEOFAfterShutdown(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		var sh, recv opResult
		var c, rc Completion
		Shutdown(l, &c, client, syscall.SHUT_WR, &sh, (*opResult).onErr)
		await(t, l, &sh)
		wantOK(t, "Shutdown", &sh)
		Recv(l, &rc, server, make([]byte, 16), &recv, (*opResult).onCount)
		await(t, l, &recv)
		wantErr(t, "Recv after the peer's shutdown", &recv, io.EOF)
	})
}

func TestWindowsShutdownRejectsBadHow(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, _ := tcpPair(t, l, loopback4)
		var r opResult
		var c Completion
		Shutdown(l, &c, client, 7, &r, (*opResult).onErr)
		await(t, l, &r)
		wantErr(t, "Shutdown(how=7)", &r, syscall.EINVAL)
	})
}

func TestWindowsConnectRefused(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		// A port nobody listens on: bind a listener, note its port, close it.
		lfd, bound, err := l.ListenTCP(loopback4, ListenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := closeFD(t, l, lfd); err != nil {
			t.Fatal(err)
		}
		fd := tcpSocket(t, l, bound)
		var r opResult
		var c Completion
		Connect(l, &c, fd, bound, &r, (*opResult).onErr)
		await(t, l, &r)
		wantErr(t, "Connect to a closed port", &r, syscall.ECONNREFUSED)
	})
}

func TestWindowsSendAfterPeerResetFails(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPairTracked(t, l, loopback4)
		server.close(t)
		// The first send may still be accepted by the local stack; the
		// peer answers it with a reset, after which sends fail.
		buf := pattern(64<<10, 3)
		var err error
		for i := 0; i < 50 && err == nil; i++ {
			var r opResult
			var c Completion
			Send(l, &c, client.fd, buf, &r, (*opResult).onCount)
			await(t, l, &r)
			err = r.err
			time.Sleep(time.Millisecond)
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNABORTED) {
			t.Fatalf("Send to a closed peer: %v, want ECONNRESET, ECONNABORTED or EPIPE", err)
		}
	})
}

func TestWindowsCancelPendingRecv(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		_, server := tcpPair(t, l, loopback4)
		var recv, cancel opResult
		var rc, cc Completion
		Recv(l, &rc, server, make([]byte, 16), &recv, (*opResult).onCount)
		stillPending(t, l, 20*time.Millisecond, "Recv with nothing sent", &recv)
		Cancel(l, &cc, &rc, &cancel, (*opResult).onErr)
		await(t, l, &recv, &cancel)
		wantOK(t, "Cancel", &cancel)
		wantErr(t, "canceled Recv", &recv, ErrCanceled)
	})
}

func TestWindowsCancelPendingAccept(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		lfd, _ := listenTCP(t, l, loopback4)
		var accept, cancel opResult
		var ac, cc Completion
		Accept(l, &ac, lfd, &accept, (*opResult).onCount)
		stillPending(t, l, 20*time.Millisecond, "Accept with no client", &accept)
		Cancel(l, &cc, &ac, &cancel, (*opResult).onErr)
		await(t, l, &accept, &cancel)
		wantOK(t, "Cancel", &cancel)
		wantErr(t, "canceled Accept", &accept, ErrCanceled)
		if accept.n != -1 {
			t.Fatalf("canceled Accept reported fd %d, want -1", accept.n)
		}
	})
}

func TestWindowsCancelFinishedIsNotFound(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		var nop, cancel opResult
		var nc, cc Completion
		Nop(l, &nc, &nop, (*opResult).onErr)
		await(t, l, &nop)
		Cancel(l, &cc, &nc, &cancel, (*opResult).onErr)
		await(t, l, &cancel)
		wantErr(t, "Cancel of a finished Nop", &cancel, ErrNotFound)
	})
}

func TestWindowsCloseCancelsPendingOnLoopClose(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		_, server := tcpPair(t, l, loopback4)
		lfd, _ := listenTCP(t, l, loopback4)
		var recv, accept, timer opResult
		var rc, ac, tc Completion
		Recv(l, &rc, server, make([]byte, 16), &recv, (*opResult).onCount)
		Accept(l, &ac, lfd, &accept, (*opResult).onCount)
		Timeout(l, &tc, time.Hour, &timer, (*opResult).onErr)
		stillPending(t, l, 20*time.Millisecond, "Recv", &recv)
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for _, r := range []struct {
			what string
			r    *opResult
		}{{"Recv", &recv}, {"Accept", &accept}, {"Timeout", &timer}} {
			if r.r.calls != 1 || !errors.Is(r.r.err, ErrCanceled) {
				t.Errorf("%s at Close: calls=%d err=%v, want one ErrCanceled", r.what, r.r.calls, r.r.err)
			}
		}
	})
}

func TestWindowsCloseOfSocketEndsItsRecv(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "the simulator's Recv goes on until the peer writes (ops.go, Close)")
		lfd, bound := listenTCP(t, l, loopback4)
		_, server := connectTo(t, l, lfd, bound)
		var recv, closed opResult
		var rc, cc Completion
		Recv(l, &rc, server.fd, make([]byte, 16), &recv, (*opResult).onCount)
		stillPending(t, l, 20*time.Millisecond, "Recv", &recv)
		server.closed = true
		Close(l, &cc, server.fd, &closed, (*opResult).onErr)
		runUntil(t, l, waitLimit, func() bool { return recv.done() && closed.done() })
		wantOK(t, "Close", &closed)
		// The kernel aborts it: ErrCanceled, as on the readiness backends.
		if !errors.Is(recv.err, ErrCanceled) {
			t.Fatalf("Recv on a socket closed under it: n=%d err=%v", recv.n, recv.err)
		}
	})
}

func TestWindowsBadHandle(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		var r opResult
		var c Completion
		Recv(l, &c, badFD, make([]byte, 8), &r, (*opResult).onCount)
		await(t, l, &r)
		wantErr(t, "Recv on a bad handle", &r, syscall.EBADF)
	})
}

func TestWindowsFileReadWriteAtOffsets(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, fd := tempFile(t, l, []byte("0123456789"))
		var w, r, s opResult
		var wc, rc, sc Completion
		Write(l, &wc, fd, []byte("abc"), 4, &w, (*opResult).onCount)
		await(t, l, &w)
		wantN(t, "Write at 4", &w, 3)
		Fsync(l, &sc, fd, &s, (*opResult).onErr)
		await(t, l, &s)
		wantOK(t, "Fsync", &s)
		buf := make([]byte, 6)
		Read(l, &rc, fd, buf, 2, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Read at 2", &r, 6)
		if string(buf) != "23abc7" {
			t.Fatalf("Read at 2 got %q, want %q", buf, "23abc7")
		}
		r = opResult{}
		Read(l, &rc, fd, buf, 100, &r, (*opResult).onCount)
		await(t, l, &r)
		wantErr(t, "Read past the end", &r, io.EOF)
		wantFile(t, l, path, []byte("0123abc789"))
	})
}

func TestWindowsFileCurrentPosition(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		_, fd := tempFile(t, l, []byte("abcdefgh"))
		buf := make([]byte, 3)
		var got []byte
		for i := 0; i < 3; i++ {
			var r opResult
			var c Completion
			Read(l, &c, fd, buf, -1, &r, (*opResult).onCount)
			await(t, l, &r)
			if r.err != nil {
				if errors.Is(r.err, io.EOF) {
					break
				}
				t.Fatalf("Read at the current position: %v", r.err)
			}
			got = append(got, buf[:r.n]...)
		}
		if string(got) != "abcdefgh" {
			t.Fatalf("reads at the current position got %q, want %q", got, "abcdefgh")
		}
	})
}

func TestWindowsOpenAtFlags(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		dir := tempDir(t, l)
		path := filepath.Join(dir, "new")
		open := func(flags int) *opResult {
			var r opResult
			var c Completion
			OpenAt(l, &c, sysAT_FDCWD, path, flags, 0o644, &r, (*opResult).onCount)
			await(t, l, &r)
			if r.err == nil {
				ownFD(t, l, r.n)
			}
			return &r
		}
		if r := open(syscall.O_RDONLY); !errors.Is(r.err, syscall.ENOENT) || r.n != -1 {
			t.Fatalf("OpenAt of a missing file: fd=%d err=%v, want -1 and ENOENT", r.n, r.err)
		}
		r := open(syscall.O_RDWR | syscall.O_CREAT | syscall.O_EXCL)
		if r.err != nil {
			t.Fatalf("OpenAt O_CREAT|O_EXCL: %v", r.err)
		}
		var w opResult
		var wc Completion
		Write(l, &wc, r.n, []byte("hello"), 0, &w, (*opResult).onCount)
		await(t, l, &w)
		wantN(t, "Write", &w, 5)
		if r := open(syscall.O_RDWR | syscall.O_CREAT | syscall.O_EXCL); !errors.Is(r.err, syscall.EEXIST) {
			t.Fatalf("OpenAt O_CREAT|O_EXCL of an existing file: %v, want EEXIST", r.err)
		}
		a := open(syscall.O_WRONLY | syscall.O_APPEND)
		if a.err != nil {
			t.Fatalf("OpenAt O_APPEND: %v", a.err)
		}
		w = opResult{}
		Write(l, &wc, a.n, []byte("!"), 0, &w, (*opResult).onCount)
		await(t, l, &w)
		wantN(t, "Write with O_APPEND", &w, 1)
		wantFile(t, l, path, []byte("hello!"))
		if r := open(syscall.O_RDWR | syscall.O_TRUNC); r.err != nil {
			t.Fatalf("OpenAt O_TRUNC: %v", r.err)
		}
		wantFile(t, l, path, []byte{})
	})
}

func TestWindowsFileVectoredAndDurable(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		path, fd := tempFile(t, l, []byte("0123456789"))
		var r opResult
		var c Completion
		Writev(l, &c, fd, [][]byte{[]byte("ab"), {}, []byte("cd")}, 3, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Writev at 3", &r, 4)
		r = opResult{}
		WriteDurable(l, &c, fd, []byte("X"), 0, DataSync, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "WriteDurable at 0", &r, 1)
		r = opResult{}
		WritevDurable(l, &c, fd, [][]byte{[]byte("Y"), []byte("Z")}, 8, FileSync, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "WritevDurable at 8", &r, 2)
		wantFile(t, l, path, []byte("X12abcd7YZ"))
		bufs := [][]byte{make([]byte, 3), make([]byte, 4), make([]byte, 10)}
		r = opResult{}
		Readv(l, &c, fd, bufs, 1, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Readv at 1 (short at the end)", &r, 9)
		if got := string(bufs[0]) + string(bufs[1]) + string(bufs[2][:2]); got != "12abcd7YZ" {
			t.Fatalf("Readv got %q", got)
		}
		r = opResult{}
		Readv(l, &c, fd, bufs, 100, &r, (*opResult).onCount)
		await(t, l, &r)
		wantErr(t, "Readv past the end", &r, io.EOF)
	})
}

func TestWindowsPathOperations(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		dir := tempDir(t, l)
		sub := filepath.Join(dir, "sub")
		run := func(what string, submit func(c *Completion, r *opResult)) *opResult {
			t.Helper()
			var r opResult
			var c Completion
			submit(&c, &r)
			await(t, l, &r)
			return &r
		}
		r := run("Mkdirat", func(c *Completion, r *opResult) { Mkdirat(l, c, sysAT_FDCWD, sub, 0o755, r, (*opResult).onErr) })
		wantOK(t, "Mkdirat", r)
		r = run("Mkdirat again", func(c *Completion, r *opResult) { Mkdirat(l, c, sysAT_FDCWD, sub, 0o755, r, (*opResult).onErr) })
		wantErr(t, "Mkdirat of an existing directory", r, syscall.EEXIST)

		// The file is the loop's from OpenAt to Close, so that no cleanup
		// closes its handle value again later.
		oldPath := filepath.Join(dir, "f")
		r = run("OpenAt", func(c *Completion, r *opResult) {
			OpenAt(l, c, sysAT_FDCWD, oldPath, syscall.O_RDWR|syscall.O_CREAT, 0o644, r, (*opResult).onCount)
		})
		if r.err != nil {
			t.Fatalf("OpenAt: %v", r.err)
		}
		fd := r.n
		r = run("Write", func(c *Completion, r *opResult) { Write(l, c, fd, []byte("0123456789"), 0, r, (*opResult).onCount) })
		wantN(t, "Write", r, 10)
		r = run("Ftruncate", func(c *Completion, r *opResult) { Ftruncate(l, c, fd, 4, r, (*opResult).onErr) })
		wantOK(t, "Ftruncate", r)
		wantFile(t, l, oldPath, []byte("0123"))
		// Closed before it is renamed and deleted: on Windows a file open
		// elsewhere is only marked for deletion.
		r = run("Close", func(c *Completion, r *opResult) { Close(l, c, fd, r, (*opResult).onErr) })
		wantOK(t, "Close", r)

		newPath := filepath.Join(sub, "moved")
		r = run("Renameat", func(c *Completion, r *opResult) {
			Renameat(l, c, sysAT_FDCWD, oldPath, sysAT_FDCWD, newPath, 0, r, (*opResult).onErr)
		})
		wantOK(t, "Renameat", r)
		wantFile(t, l, newPath, []byte("0123"))

		if simOf(l) == nil { // the simulator removes a directory that is not empty
			r = run("Unlinkat dir", func(c *Completion, r *opResult) {
				Unlinkat(l, c, sysAT_FDCWD, sub, sysAT_REMOVEDIR, r, (*opResult).onErr)
			})
			wantErr(t, "Unlinkat(AT_REMOVEDIR) of a directory with a file in it", r, syscall.ENOTEMPTY)
		}
		r = run("Unlinkat file", func(c *Completion, r *opResult) { Unlinkat(l, c, sysAT_FDCWD, newPath, 0, r, (*opResult).onErr) })
		wantOK(t, "Unlinkat of the file", r)
		r = run("Unlinkat missing", func(c *Completion, r *opResult) { Unlinkat(l, c, sysAT_FDCWD, newPath, 0, r, (*opResult).onErr) })
		wantErr(t, "Unlinkat of a missing file", r, syscall.ENOENT)
		r = run("Unlinkat dir", func(c *Completion, r *opResult) {
			Unlinkat(l, c, sysAT_FDCWD, sub, sysAT_REMOVEDIR, r, (*opResult).onErr)
		})
		wantOK(t, "Unlinkat(AT_REMOVEDIR) of the empty directory", r)
	})
}

func TestWindowsUDPRoundTrip(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		a, aAddr, err := l.ListenUDP(loopback4, UDPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ownFD(t, l, a)
		b, bAddr, err := l.ListenUDP(loopback4, UDPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ownFD(t, l, b)
		var send, recv datagramResult
		var sc, rc Completion
		in := make([]byte, 64)
		RecvFrom(l, &rc, b, in, &recv, (*datagramResult).onFrom)
		SendTo(l, &sc, a, []byte("ping"), bAddr, &send, (*datagramResult).onCount)
		runUntil(t, l, waitLimit, func() bool { return send.calls > 0 && recv.calls > 0 })
		if send.err != nil || send.n != 4 {
			t.Fatalf("SendTo: n=%d err=%v", send.n, send.err)
		}
		if recv.err != nil || string(in[:recv.n]) != "ping" || recv.from != aAddr {
			t.Fatalf("RecvFrom: %q from %v, err=%v; want %q from %v", in[:recv.n], recv.from, recv.err, "ping", aAddr)
		}

		// A datagram longer than the buffers: RecvMsg fills them and says
		// MSG_TRUNC; RecvFrom reports the bytes copied.
		recv = datagramResult{}
		send = datagramResult{}
		small := [][]byte{make([]byte, 2), make([]byte, 3)}
		RecvMsg(l, &rc, b, small, nil, &recv, (*datagramResult).onMsg)
		SendTo(l, &sc, a, []byte("truncated"), bAddr, &send, (*datagramResult).onCount)
		runUntil(t, l, waitLimit, func() bool { return send.calls > 0 && recv.calls > 0 })
		if recv.err != nil || recv.n != 5 || recv.flags&sysMSG_TRUNC == 0 || string(small[0])+string(small[1]) != "trunc" {
			t.Fatalf("RecvMsg of a long datagram: n=%d flags=%#x err=%v got %q%q", recv.n, recv.flags, recv.err, small[0], small[1])
		}
		if recv.from != aAddr {
			t.Fatalf("RecvMsg sender %v, want %v", recv.from, aAddr)
		}

		// The same with the datagram already there when RecvMsg starts
		// (on IOCP, WSARecvFrom then fails at once with WSAEMSGSIZE and
		// still posts its packet).
		recv = datagramResult{}
		send = datagramResult{}
		SendTo(l, &sc, a, []byte("TRUNCATED"), bAddr, &send, (*datagramResult).onCount)
		runUntil(t, l, waitLimit, func() bool { return send.calls > 0 })
		time.Sleep(10 * time.Millisecond) // loopback delivers at once; be generous
		simSettle(t, l)
		RecvMsg(l, &rc, b, small, nil, &recv, (*datagramResult).onMsg)
		runUntil(t, l, waitLimit, func() bool { return recv.calls > 0 })
		if recv.err != nil || recv.n != 5 || recv.flags&sysMSG_TRUNC == 0 || string(small[0])+string(small[1]) != "TRUNC" {
			t.Fatalf("RecvMsg of a long datagram already there: n=%d flags=%#x err=%v got %q%q", recv.n, recv.flags, recv.err, small[0], small[1])
		}
		stillPending(t, l, 20*time.Millisecond, "a Nop after the truncated RecvMsg", &opResult{})
		if recv.calls != 1 {
			t.Fatalf("RecvMsg called back %d times", recv.calls)
		}
	})
}

func TestWindowsSendMsgControlDataRefused(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		a, _, err := l.ListenUDP(loopback4, UDPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ownFD(t, l, a)
		var r opResult
		var c Completion
		SendMsg(l, &c, a, [][]byte{[]byte("x")}, make([]byte, 16), netip.MustParseAddrPort("127.0.0.1:9"), &r, (*opResult).onCount)
		await(t, l, &r)
		wantErr(t, "SendMsg with control data", &r, syscall.EOPNOTSUPP)
	})
}

// datagramResult records a datagram operation's callback.
type datagramResult struct {
	calls, n, flags int
	from            netip.AddrPort
	err             error
}

func (r *datagramResult) onCount(_ *Completion, n int, err error) {
	r.calls++
	r.n, r.err = n, err
}

func (r *datagramResult) onFrom(_ *Completion, n int, from netip.AddrPort, err error) {
	r.calls++
	r.n, r.from, r.err = n, from, err
}

func (r *datagramResult) onMsg(_ *Completion, n, _, flags int, from netip.AddrPort, err error) {
	r.calls++
	r.n, r.flags, r.from, r.err = n, flags, from, err
}

func TestWindowsBackendSelection(t *testing.T) {
	l := newTestLoop(t, Options{})
	if l.Backend() != BackendIOCP || l.Backend().String() != "iocp" {
		t.Fatalf("BackendAuto on Windows gave %v, want iocp", l.Backend())
	}
	if b, err := ParseBackend("iocp"); err != nil || b != BackendIOCP {
		t.Fatalf("ParseBackend(iocp) = %v, %v", b, err)
	}
	if _, err := New(Options{Backend: BackendEpoll}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("New(epoll) on Windows: %v, want ErrUnsupported", err)
	}
	t.Setenv(BackendEnv, "epol")
	if _, err := New(Options{}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("New with %s=epol: %v, want EINVAL", BackendEnv, err)
	}
}

// TestWindowsRecordsSurviveGC runs socket round trips with collections
// forced while operations are in the kernel: every OVERLAPPED the kernel
// writes lives in pinned records the backend keeps (see iocpOps).
func TestWindowsRecordsSurviveGC(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		for i := 0; i < 50; i++ {
			msg := pattern(1000+i, uint32(i))
			in := make([]byte, len(msg))
			var send, recv opResult
			var sc, rc Completion
			Recv(l, &rc, server, in, &recv, (*opResult).onCount)
			if err := l.Tick(); err != nil {
				t.Fatal(err)
			}
			forceGC()
			Send(l, &sc, client, msg, &send, (*opResult).onCount)
			forceGC()
			await(t, l, &send, &recv)
			wantN(t, "Send", &send, len(msg))
			if recv.err != nil || !bytes.Equal(in[:recv.n], msg[:recv.n]) {
				t.Fatalf("round %d: Recv n=%d err=%v, bytes differ", i, recv.n, recv.err)
			}
		}
	})
}

func forceGC() {
	runtime.GC()
	runtime.GC()
}
