//go:build !windows

package ioloop

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Conformance tests of Unix-only features: descriptors passed over AF_UNIX
// sockets (SCM_RIGHTS), AF_UNIX itself, and OpenAt's Unix details
// (close-on-exec read back with fcntl, the mode under the umask). ioloop
// has no unix sockets on Windows, and Windows files have no mode bits
// (docs/ARCHITECTURE.md, "Windows").

// TestUDPRecvMsgRights passes a descriptor over a unix datagram socket
// pair with SCM_RIGHTS: real control data through SendMsg and RecvMsg.
func TestUDPRecvMsgRights(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "unix sockets and SCM_RIGHTS")
		// Plain SOCK_DGRAM and SetNonblock: macOS has no SOCK_NONBLOCK.
		pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range pair {
			if err := unix.SetNonblock(fd, true); err != nil {
				t.Fatal(err)
			}
		}
		closeOnCleanup(t, pair[0])
		closeOnCleanup(t, pair[1])
		passed, err := unix.Dup(pair[0])
		if err != nil {
			t.Fatal(err)
		}
		closeOnCleanup(t, passed)

		var sc, rc Completion
		var sent opResult
		SendMsg(l, &sc, pair[0], [][]byte{[]byte("fd")}, unix.UnixRights(passed), netip.AddrPort{}, &sent, (*opResult).onCount)
		await(t, l, &sent)
		wantN(t, "SendMsg with SCM_RIGHTS", &sent, 2)

		buf := make([]byte, 16)
		oob := make([]byte, unix.CmsgSpace(4))
		var got dgramResult
		RecvMsg(l, &rc, pair[1], [][]byte{buf}, oob, &got, (*dgramResult).onRecvMsg)
		awaitDgram(t, l, &got)
		if got.err != nil || got.n != 2 || string(buf[:2]) != "fd" || got.oobn == 0 || got.flags&unix.MSG_CTRUNC != 0 {
			t.Fatalf("RecvMsg: n=%d oobn=%d flags=%#x err=%v", got.n, got.oobn, got.flags, got.err)
		}
		if got.from.IsValid() {
			t.Fatalf("RecvMsg from a unix socket reported sender %v", got.from)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:got.oobn])
		if err != nil || len(msgs) != 1 {
			t.Fatalf("ParseSocketControlMessage: %d messages, %v", len(msgs), err)
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			t.Fatalf("ParseUnixRights: %v, %v", fds, err)
		}
		closeOnCleanup(t, fds[0])
		var st1, st2 unix.Stat_t
		if unix.Fstat(fds[0], &st1) != nil || unix.Fstat(passed, &st2) != nil || st1.Ino != st2.Ino {
			t.Fatal("the received descriptor is not the one sent")
		}

		// A control buffer too small for the rights: MSG_CTRUNC.
		sent = opResult{}
		SendMsg(l, &sc, pair[0], [][]byte{[]byte("again")}, unix.UnixRights(passed), netip.AddrPort{}, &sent, (*opResult).onCount)
		await(t, l, &sent)
		got = dgramResult{}
		RecvMsg(l, &rc, pair[1], [][]byte{buf}, make([]byte, 4), &got, (*dgramResult).onRecvMsg)
		awaitDgram(t, l, &got)
		if got.err != nil || got.n != 5 || got.flags&unix.MSG_CTRUNC == 0 {
			t.Fatalf("RecvMsg with a 4-byte control buffer: n=%d flags=%#x err=%v, want MSG_CTRUNC", got.n, got.flags, got.err)
		}
	})
}

// TestSendZCUnixSocket: AF_UNIX has no zero-copy path (io_uring answers
// EOPNOTSUPP); SendZC is then a Send, with a Send's results, on every
// backend.
func TestSendZCUnixSocket(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "a kernel socketpair")
		for _, size := range []int{1, 64 << 10, 1<<20 + 7} {
			fds, err := nonblockingSocketpair()
			if err != nil {
				t.Fatal(err)
			}
			ownFD(t, l, fds[0])
			ownFD(t, l, fds[1])
			sendZCThroughReader(t, l, fds[0], fds[1], pattern(size, uint32(size)))
		}
	})
}

// currentUmask returns the process umask.
func currentUmask() uint32 {
	old := unix.Umask(0o022)
	unix.Umask(old)
	return uint32(old)
}

func TestOpenAt(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		dir := tempDir(t, l)
		path := filepath.Join(dir, "created")
		var r opResult
		var c Completion
		OpenAt(l, &c, sysAT_FDCWD, path, sysO_CREAT|sysO_EXCL|sysO_RDWR, 0o640, &r, (*opResult).onCount)
		await(t, l, &r)
		if r.err != nil || r.n < 0 {
			t.Fatalf("OpenAt(O_CREAT): fd=%d err=%v", r.n, r.err)
		}
		fd := r.n
		ownFD(t, l, fd)
		if simOf(l) == nil { // simulated descriptors have no flags; the mode: TestStatx
			flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			if err != nil || flags&unix.FD_CLOEXEC == 0 {
				t.Fatalf("OpenAt fd: F_GETFD = %#x, %v; want FD_CLOEXEC", flags, err)
			}
			if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_ACCMODE != sysO_RDWR {
				t.Fatalf("OpenAt fd: F_GETFL = %#x, %v; want O_RDWR", fl, err)
			}
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				t.Fatal(err)
			}
			if want := 0o640 &^ currentUmask(); uint32(st.Mode)&0o7777 != want || st.Mode&unix.S_IFMT != unix.S_IFREG {
				t.Fatalf("created file mode %#o, want regular file with %#o", st.Mode, want)
			}
		}
		r = opResult{}
		Write(l, &c, fd, []byte("via openat"), -1, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Write through the fd from OpenAt", &r, 10)
		wantFile(t, l, path, []byte("via openat"))
		r = opResult{}
		buf := make([]byte, 16)
		Read(l, &c, fd, buf, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		wantN(t, "Read through the fd from OpenAt", &r, 10)

		// Relative to a directory descriptor.
		dirFD := openFile(t, l, dir, sysO_RDONLY|sysO_DIRECTORY)
		r = opResult{}
		OpenAt(l, &c, dirFD, "created", sysO_RDONLY, 0, &r, (*opResult).onCount)
		await(t, l, &r)
		if r.err != nil || r.n < 0 {
			t.Fatalf("OpenAt(dirfd, relative): fd=%d err=%v", r.n, r.err)
		}
		ownFD(t, l, r.n)
		got := make([]byte, 16)
		r2 := opResult{}
		Read(l, &c, r.n, got, 0, &r2, (*opResult).onCount)
		await(t, l, &r2)
		if string(got[:r2.n]) != "via openat" {
			t.Fatalf("read %q through the fd from OpenAt(dirfd)", got[:r2.n])
		}

		type errCase struct {
			name  string
			dirfd int
			path  string
			flags int
			want  error
		}
		cases := []errCase{
			{"missing file", sysAT_FDCWD, filepath.Join(dir, "missing"), sysO_RDONLY, syscall.ENOENT},
			{"O_EXCL on an existing file", sysAT_FDCWD, path, sysO_CREAT | sysO_EXCL | sysO_RDWR, syscall.EEXIST},
			{"relative to a bad dirfd", badFD, "created", sysO_RDONLY, syscall.EBADF},
			{"O_DIRECTORY on a file", sysAT_FDCWD, path, sysO_RDONLY | sysO_DIRECTORY, syscall.ENOTDIR},
			{"path with NUL", sysAT_FDCWD, path + "\x00suffix", sysO_RDONLY, syscall.EINVAL},
		}
		if simOf(l) == nil { // the simulated file system is flat: every directory exists
			cases = append(cases, errCase{"missing directory", sysAT_FDCWD, filepath.Join(dir, "no", "file"), sysO_CREAT | sysO_RDWR, syscall.ENOENT})
		}
		for _, tc := range cases {
			r = opResult{}
			OpenAt(l, &c, tc.dirfd, tc.path, tc.flags, 0o600, &r, (*opResult).onCount)
			if r.calls != 0 {
				t.Fatalf("OpenAt %s ran its callback synchronously", tc.name)
			}
			await(t, l, &r)
			if r.err == nil {
				ownFD(t, l, r.n)
			}
			wantErr(t, "OpenAt "+tc.name, &r, tc.want)
			if r.n != -1 {
				t.Fatalf("failed OpenAt %s reported fd %d, want -1", tc.name, r.n)
			}
		}
		if simOf(l) == nil {
			if _, err := os.Stat(filepath.Join(dir, "no")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("failed OpenAt created something: %v", err)
			}
		}
	})
}
