package ioloop

import (
	"testing"

	"golang.org/x/sys/windows"
)

// checkOpenedFile checks OpenAt's Windows details on the new handle fd:
// not inheritable (close-on-exec) and a disk file. Windows files have no
// mode bits (docs/ARCHITECTURE.md, "Windows"), and a handle's access
// mode cannot be read back; the Write and Read through it test it.
func checkOpenedFile(t *testing.T, fd, _ int, _ uint32) {
	t.Helper()
	wantNonblockCloexec(t, nil, fd)
	if typ, err := windows.GetFileType(windows.Handle(fd)); err != nil || typ != windows.FILE_TYPE_DISK {
		t.Fatalf("OpenAt handle: GetFileType = %d, %v; want FILE_TYPE_DISK", typ, err)
	}
}
