// Package files holds the file workloads: random O_DIRECT reads at a
// queue depth (ioloop on io_uring, ioloop on epoll with its worker pool,
// os.File.ReadAt from one goroutine per in-flight read, and fio's io_uring
// engine), and a write-ahead-log pattern (appends with an fsync every N).
package files

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
)

// EnsureFile makes path a file of exactly size bytes of random data
// (written out, not sparse, so reads reach the device), reusing it when it
// already has that size. It writes a temporary file and renames it, so an
// interrupted run never leaves a short file that a later run would trust.
func EnsureFile(path string, size int64, log io.Writer) error {
	if st, err := os.Stat(path); err == nil && st.Size() == size {
		return nil
	}
	fmt.Fprintf(log, "creating %s (%d MiB of random data)\n", path, size>>20)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{'i', 'o', 'l', 'o', 'o', 'p'})
	chunk := make([]byte, 4<<20)
	for left := size; left > 0 && err == nil; left -= int64(len(chunk)) {
		part := chunk[:min(int64(len(chunk)), left)]
		_, _ = rng.Read(part)
		_, err = f.Write(part)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
