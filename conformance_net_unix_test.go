//go:build !windows

package ioloop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The network conformance tests of unix sockets (ConnectUnix, ListenUnix),
// which ioloop supports on Unix only: on Windows, ConnectUnix fails with
// EAFNOSUPPORT (docs/ARCHITECTURE.md, "Windows").

func TestConnectUnix(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "unix-domain sockets")
		paths := map[string]string{
			"path":     filepath.Join(shortTempDir(t), "sock"),
			"abstract": fmt.Sprintf("@ioloop-test-%d-%d", os.Getpid(), time.Now().UnixNano()),
		}
		for _, kind := range []string{"path", "abstract"} {
			path := paths[kind]
			t.Run(kind, func(t *testing.T) {
				if kind == "abstract" && !abstractUnixNamespace {
					t.Skip("no abstract unix socket namespace on this system")
				}
				lfd, err := ListenUnix(path, 0)
				if err != nil {
					t.Fatalf("ListenUnix(%q): %v", path, err)
				}
				closeOnCleanup(t, lfd)
				wantNonblockCloexec(t, l, lfd)
				if kind == "path" {
					if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
						t.Fatalf("ListenUnix did not create a socket file at %s: %v", path, err)
					}
				}
				client, err := UnixSocket()
				if err != nil {
					t.Fatal(err)
				}
				closeOnCleanup(t, client)
				wantNonblockCloexec(t, l, client)

				server := acceptConnected(t, l, lfd, "ConnectUnix", func(c *Completion, r *opResult) { ConnectUnix(l, c, client, path, r, (*opResult).onErr) })
				wantNonblockCloexec(t, l, server)

				// The peer of the client is the socket bound at path.
				peer, err := unix.Getpeername(client)
				if err != nil {
					t.Fatal(err)
				}
				wantName := path
				if kind == "abstract" {
					wantName = "@" + path[1:]
				}
				if sa, ok := peer.(*unix.SockaddrUnix); !ok || sa.Name != wantName {
					t.Fatalf("client's peer is %#v, want %q", peer, wantName)
				}

				var send, recv opResult
				var sc, rc Completion
				buf := make([]byte, 16)
				Send(l, &sc, client, []byte("over unix"), &send, (*opResult).onCount)
				Recv(l, &rc, server, buf, &recv, (*opResult).onCount)
				await(t, l, &send, &recv)
				wantN(t, "Send", &send, 9)
				wantN(t, "Recv", &recv, 9)
				if string(buf[:9]) != "over unix" {
					t.Fatalf("Recv got %q", buf[:9])
				}
			})
		}
	})
}

func TestConnectUnixLongestPath(t *testing.T) {
	// sun_path holds 108 bytes on Linux, 104 on the BSDs and macOS: one
	// less and a NUL is the longest path.
	longest := len(unix.RawSockaddrUnix{}.Path) - 1
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "unix-domain sockets")
		dir := shortTempDir(t)
		path := filepath.Join(dir, strings.Repeat("p", longest-len(dir)-1))
		if len(path) != longest {
			t.Fatalf("path length %d", len(path))
		}
		lfd, err := ListenUnix(path, 0)
		if err != nil {
			t.Fatalf("ListenUnix with a %d-byte path: %v", longest, err)
		}
		closeOnCleanup(t, lfd)
		client, err := UnixSocket()
		if err != nil {
			t.Fatal(err)
		}
		closeOnCleanup(t, client)
		acceptConnected(t, l, lfd, fmt.Sprintf("ConnectUnix with a %d-byte path", longest), func(c *Completion, r *opResult) { ConnectUnix(l, c, client, path, r, (*opResult).onErr) })
	})
}

func TestConnectUnixErrors(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		// A path that does not fit a sockaddr_un fails before any socket
		// is involved: on the simulator too, with one of its sockets.
		var fd int
		if simOf(l) != nil {
			fd = tcpSocket(t, l, loopback4)
		} else {
			var err error
			if fd, err = UnixSocket(); err != nil {
				t.Fatal(err)
			}
			closeOnCleanup(t, fd)
		}
		for _, path := range []string{
			"/tmp/" + strings.Repeat("x", 200), // longer than sockaddr_un.sun_path
			"@" + strings.Repeat("y", 120),
			"",
		} {
			var r opResult
			var c Completion
			ConnectUnix(l, &c, fd, path, &r, (*opResult).onErr)
			if r.calls != 0 {
				t.Fatal("ConnectUnix ran its callback synchronously; callbacks must run from the loop")
			}
			await(t, l, &r)
			wantErr(t, fmt.Sprintf("ConnectUnix with a %d-byte path", len(path)), &r, syscall.EINVAL)
		}
		needsKernel(t, l, "unix-domain sockets")

		var r opResult
		var c Completion
		ConnectUnix(l, &c, fd, filepath.Join(shortTempDir(t), "missing"), &r, (*opResult).onErr)
		await(t, l, &r)
		wantErr(t, "ConnectUnix to a missing path", &r, syscall.ENOENT)

		// A path that is too long for ListenUnix fails there too.
		if lfd, err := ListenUnix("/tmp/"+strings.Repeat("z", 200), 0); err == nil {
			unix.Close(lfd)
			t.Fatal("ListenUnix accepted a 205-byte path")
		}
	})
}

func TestListenUnixErrors(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "sock")
	fd, err := ListenUnix(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, fd)
	// An existing socket file is not removed.
	if fd2, err := ListenUnix(path, 4); !errors.Is(err, syscall.EADDRINUSE) || fd2 != -1 {
		if err == nil {
			unix.Close(fd2)
		}
		t.Fatalf("second ListenUnix(%s) = %d, %v; want -1, EADDRINUSE", path, fd2, err)
	}
	if fd2, err := ListenUnix(filepath.Join(shortTempDir(t), "missing", "sock"), 4); !errors.Is(err, syscall.ENOENT) {
		if err == nil {
			unix.Close(fd2)
		}
		t.Fatalf("ListenUnix in a missing directory = %v, want ENOENT", err)
	}
}
