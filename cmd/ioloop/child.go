package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Helpers for the child processes of `bench echo -server`: the echo server
// and perf.

// waitTimeout waits for cmd to exit, killing it after timeout.
func waitTimeout(cmd *exec.Cmd, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not exit within %v and was killed", cmd.Path, timeout)
	}
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

// lockedBuffer collects a child's output, written by os/exec's copying
// goroutine and read by ours.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// lineDone, if not nil, is closed once the first line is complete.
	lineDone   chan struct{}
	lineClosed bool
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.lineDone != nil && !b.lineClosed && bytes.IndexByte(p, '\n') >= 0 {
		close(b.lineDone)
		b.lineClosed = true
	}
	return n, err
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
