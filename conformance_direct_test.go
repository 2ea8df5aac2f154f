package ioloop

import (
	"bytes"
	"syscall"
	"testing"
)

// wantDirectIO opens path (holding content, at least three
// DirectAlignment blocks) with OpenDirect, DirectRequired, and checks an
// aligned Read at offset 0 and an aligned Write read back through the
// cache, both through l; with checkMisaligned, that a Read at a misaligned
// offset is refused with EINVAL, which shows that the cache is bypassed
// (TestOpenDirect on Linux and Windows).
func wantDirectIO(t *testing.T, l *Loop, path string, content []byte, checkMisaligned bool) {
	t.Helper()
	file, err := OpenDirect(path, sysO_RDWR, 0, DirectRequired)
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, file.FD)
	t.Logf("direct I/O alignments: memory %d, offset %d", file.MemoryAlignBytes, file.OffsetAlignBytes)

	buf := AlignedBuffer(2*DirectAlignment, file.MemoryAlignBytes)
	var r opResult
	var c Completion
	Read(l, &c, file.FD, buf, 0, &r, (*opResult).onCount)
	await(t, l, &r)
	wantN(t, "aligned direct Read at 0", &r, len(buf))
	if !bytes.Equal(buf, content[:len(buf)]) {
		t.Fatal("direct Read returned different bytes than the file holds")
	}

	block := AlignedBuffer(DirectAlignment, file.MemoryAlignBytes)
	copy(block, pattern(len(block), 10))
	r = opResult{}
	Write(l, &c, file.FD, block, DirectAlignment, &r, (*opResult).onCount)
	await(t, l, &r)
	wantN(t, "aligned direct Write", &r, len(block))
	want := append(append(append([]byte{}, content[:DirectAlignment]...), block...), content[2*DirectAlignment:]...)
	wantFile(t, nil, path, want)

	if checkMisaligned && file.OffsetAlignBytes > 1 {
		r = opResult{}
		Read(l, &c, file.FD, buf[:file.OffsetAlignBytes], 1, &r, (*opResult).onCount)
		await(t, l, &r)
		wantErr(t, "direct Read at a misaligned offset", &r, syscall.EINVAL)
	}
}
