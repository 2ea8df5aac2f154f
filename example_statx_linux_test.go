package ioloop_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// statResult records what a Statx called back with.
type statResult struct {
	st  unix.Statx_t // the kernel fills it in: leave it alone until the callback
	err error
}

func (r *statResult) onStat(_ *ioloop.Completion, err error) { r.err = err }

// ExampleStatx asks for the type and size of a file, and of a path that
// does not exist, in one batch. Statx exists on Linux only.
func ExampleStatx() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	dir := exampleDir()
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "greeting")
	if err := os.WriteFile(path, []byte("hello, statx"), 0o600); err != nil {
		log.Fatal(err)
	}

	var file, missing statResult
	var c1, c2 ioloop.Completion
	const mask = unix.STATX_TYPE | unix.STATX_SIZE
	ioloop.Statx(loop, &c1, unix.AT_FDCWD, path, 0, mask, &file.st, &file, (*statResult).onStat)
	ioloop.Statx(loop, &c2, unix.AT_FDCWD, filepath.Join(dir, "missing"), 0, mask, &missing.st, &missing, (*statResult).onStat)
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	if file.err != nil {
		log.Fatal(file.err)
	}
	// The kernel may leave out fields it cannot provide: check Mask.
	if file.st.Mask&mask == mask {
		fmt.Println("regular file:", file.st.Mode&unix.S_IFMT == unix.S_IFREG, "size:", file.st.Size)
	}
	fmt.Println("missing:", errors.Is(missing.err, fs.ErrNotExist))
	// Output:
	// regular file: true size: 12
	// missing: true
}
