//go:build darwin || freebsd || netbsd || openbsd

package ioloop

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// OpenDirect on the systems whose direct I/O is not Linux's: F_NOCACHE on
// macOS, O_DIRECT on FreeBSD and NetBSD, none on OpenBSD.
func TestOpenDirectBSD(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	content := pattern(2*DirectAlignment, 3)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "openbsd" {
		if f, err := OpenDirect(path, unix.O_RDONLY, 0, DirectRequired); !errors.Is(err, errors.ErrUnsupported) || f.FD != -1 {
			t.Fatalf("OpenDirect(DirectRequired) = %+v, %v; want FD -1, errors.ErrUnsupported", f, err)
		}
	}
	file, err := OpenDirect(path, unix.O_RDONLY, 0, DirectOrBuffered)
	if err != nil {
		t.Fatalf("OpenDirect(DirectOrBuffered): %v", err)
	}
	closeOnCleanup(t, file.FD)
	t.Logf("%s: Direct=%v alignments %d/%d", runtime.GOOS, file.Direct, file.MemoryAlignBytes, file.OffsetAlignBytes)
	if runtime.GOOS == "darwin" && !file.Direct {
		t.Fatal("F_NOCACHE is available on every macOS filesystem, but Direct = false")
	}
	if runtime.GOOS == "darwin" {
		if v, err := unix.FcntlInt(uintptr(file.FD), unix.F_GETFD, 0); err != nil || v&unix.FD_CLOEXEC == 0 {
			t.Fatalf("F_GETFD = %#x, %v; want FD_CLOEXEC", v, err)
		}
	}
	buf := AlignedBuffer(len(content), file.MemoryAlignBytes)
	if n, err := unix.Pread(file.FD, buf, 0); err != nil || n != len(content) || !bytes.Equal(buf, content) {
		t.Fatalf("pread = %d, %v", n, err)
	}
}
