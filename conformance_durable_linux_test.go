package ioloop

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Linux's side of TestDurableODirectODsync (conformance_durable_direct_test.go).

// wantDirectDsyncFlags fails the test unless F_GETFL shows O_DIRECT and
// O_DSYNC on fd.
func wantDirectDsyncFlags(t *testing.T, fd int) {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_DIRECT == 0 || flags&unix.O_DSYNC == 0 {
		t.Fatalf("F_GETFL = %#x, %v: want O_DIRECT and O_DSYNC set", flags, err)
	}
}

// misalignedDirectRefused is true: Linux refuses a misaligned O_DIRECT
// buffer (EINVAL) on every file system that serves O_DIRECT at all.
func misalignedDirectRefused() bool { return true }

// directDsyncRDWR is what TestDurableODirectODsync opens the log with.
const directDsyncRDWR = unix.O_RDWR | unix.O_DIRECT | unix.O_DSYNC
