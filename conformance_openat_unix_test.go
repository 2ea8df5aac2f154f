//go:build !windows

package ioloop

import (
	"testing"

	"golang.org/x/sys/unix"
)

// checkOpenedFile checks OpenAt's Unix details on the new descriptor fd:
// close-on-exec and the access mode, read back with fcntl, and a regular
// file with mode perm under the umask.
func checkOpenedFile(t *testing.T, fd, accmode int, perm uint32) {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("OpenAt fd: F_GETFD = %#x, %v; want FD_CLOEXEC", flags, err)
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_ACCMODE != accmode {
		t.Fatalf("OpenAt fd: F_GETFL = %#x, %v; want access mode %#x", fl, err, accmode)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	if want := perm &^ currentUmask(); uint32(st.Mode)&0o7777 != want || st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Fatalf("created file mode %#o, want regular file with %#o", st.Mode, want)
	}
}

// currentUmask returns the process umask.
func currentUmask() uint32 {
	old := unix.Umask(0o022)
	unix.Umask(old)
	return uint32(old)
}
