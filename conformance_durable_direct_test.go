//go:build linux || windows

package ioloop

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDurableODirectODsync: OpenAt with O_DIRECT and O_DSYNC together,
// the way TigerBeetle and Seastar open their logs (direct.go): every
// Write is durable when its callback runs and bypasses the page cache, so
// buffers, offsets and lengths must be aligned (AlignedBuffer). On Linux
// /tmp is ext4 here, which supports O_DIRECT; the test skips where it
// does not. On Windows the flags are FILE_FLAG_NO_BUFFERING and
// FILE_FLAG_WRITE_THROUGH. How each system shows the flags on the open
// file, and whether it refuses a misaligned buffer, are the helpers of
// conformance_durable_{linux,windows}_test.go.
func TestDurableODirectODsync(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		needsKernel(t, l, "O_DIRECT files of the kernel")
		dir := shortTempDir(t) // in $TMPDIR, /tmp here: ext4
		path := filepath.Join(dir, "log")
		if err := os.WriteFile(path, make([]byte, 2*DirectAlignment), 0o600); err != nil {
			t.Fatal(err)
		}
		if ok, err := directSupport(path); !ok {
			t.Skipf("%s does not serve O_DIRECT here: %v", dir, err)
		}
		fd, err := openAt(t, l, path, directDsyncRDWR, 0)
		if err != nil {
			t.Fatalf("OpenAt(O_DIRECT|O_DSYNC): %v", err)
		}
		wantDirectDsyncFlags(t, fd)

		out := AlignedBuffer(2*DirectAlignment, DirectAlignment)
		copy(out, pattern(len(out), 11))
		c, r := new(Completion), new(opResult)
		Write(l, c, fd, out, DirectAlignment, r, (*opResult).onCount)
		await(t, l, r)
		wantN(t, "aligned Write with O_DIRECT|O_DSYNC", r, len(out))

		in := AlignedBuffer(3*DirectAlignment, DirectAlignment)
		c, r = new(Completion), new(opResult)
		Read(l, c, fd, in, 0, r, (*opResult).onCount)
		await(t, l, r)
		wantN(t, "aligned Read back", r, len(in))
		if !bytes.Equal(in[:DirectAlignment], make([]byte, DirectAlignment)) || !bytes.Equal(in[DirectAlignment:], out) {
			t.Fatalf("read back something else than was written")
		}

		// O_DIRECT refuses a misaligned buffer: the alignment is the
		// caller's. Wine does not enforce it (misalignedDirectRefused).
		if !misalignedDirectRefused() {
			t.Log("not checked: this system does not enforce FILE_FLAG_NO_BUFFERING's alignment (wine)")
			return
		}
		c, r = new(Completion), new(opResult)
		Write(l, c, fd, out[1:DirectAlignment+1], 0, r, (*opResult).onCount)
		await(t, l, r)
		wantErr(t, "misaligned Write with O_DIRECT", r, syscall.EINVAL)
	})
}
