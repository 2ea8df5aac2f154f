//go:build darwin || freebsd || netbsd || openbsd

package ioloop

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Unit tests of what the BSD and macOS files do differently from Linux:
// sockaddrs with a length byte, and the vectored I/O wrappers.

func TestSockaddrRoundTripBSD(t *testing.T) {
	for _, addr := range []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:8080"),
		netip.MustParseAddrPort("[::1]:443"),
		netip.MustParseAddrPort("[fe80::1%7]:9"),
	} {
		var raw unix.RawSockaddrAny
		size, errno := encodeInetSockaddr(addr, &raw)
		if errno != 0 {
			t.Fatalf("encode %v: %v", addr, errno)
		}
		if uint32(raw.Addr.Len) != size {
			t.Fatalf("encode %v: sa_len %d, size %d", addr, raw.Addr.Len, size)
		}
		sa, errno := sockaddrFromRaw(&raw, size)
		if errno != 0 {
			t.Fatalf("decode %v: %v", addr, errno)
		}
		if got := addrPortFromSockaddr(sa); got != addr {
			t.Fatalf("round trip of %v gave %v", addr, got)
		}
	}
	// '@' is an ordinary first character of a path here.
	var raw unix.RawSockaddrAny
	size, errno := encodeUnixSockaddr("@not-abstract", &raw)
	if errno != 0 {
		t.Fatal(errno)
	}
	sa, errno := sockaddrFromRaw(&raw, size)
	if errno != 0 {
		t.Fatal(errno)
	}
	if u, ok := sa.(*unix.SockaddrUnix); !ok || u.Name != "@not-abstract" || uint32(raw.Addr.Len) != size {
		t.Fatalf("unix sockaddr %#v (sa_len %d, size %d)", sa, raw.Addr.Len, size)
	}
}

func TestVectoredIOBSD(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "v"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if n, errno := sysWritev(fd, nil, [][]byte{[]byte("abc"), nil, []byte("defg")}, -1); n != 7 || errno != 0 {
		t.Fatalf("writev = %d, %v", n, errno)
	}
	if n, errno := sysWritev(fd, nil, [][]byte{[]byte("XY"), []byte("Z")}, 2); n != 3 || errno != 0 {
		t.Fatalf("pwritev = %d, %v", n, errno)
	}
	a, b := make([]byte, 4), make([]byte, 10)
	if n, errno := sysReadv(fd, nil, [][]byte{a, b}, 0); n != 7 || errno != 0 {
		t.Fatalf("preadv = %d, %v", n, errno)
	}
	if got := string(a) + string(b[:3]); got != "abXYZfg" {
		t.Fatalf("file holds %q", got)
	}
	if n, errno := sysReadv(fd, nil, [][]byte{a}, -1); n != 0 || errno != 0 {
		t.Fatalf("readv at end of file = %d, %v", n, errno)
	}
	if n, errno := sysReadv(fd, nil, [][]byte{a}, 100); n != 0 || errno != 0 {
		t.Fatalf("preadv past the end = %d, %v", n, errno)
	}
	if !bytes.Equal(a, []byte("abXY")) {
		t.Fatalf("a read at end of file changed the buffer: %q", a)
	}
}
