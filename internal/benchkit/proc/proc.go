//go:build !windows

// Package proc is the process plumbing of ioloop's benchmarks, shared by
// `ioloop bench` (cmd/ioloop) and the bench/ suite so that both measure
// the same way: CPU time of this process (getrusage) and of another
// (/proc/PID/stat), resident memory (/proc/PID/status), the machine's
// busy time (/proc/stat), a Meter over a measured window, starting child
// processes bound to CPUs, binding this process, waiting for children
// with a time limit, collecting their output, and RLIMIT_NOFILE.
//
// The /proc readers and CPU binding exist on Linux only; elsewhere they
// return errors that say so (the CLI runs unpinned there). The benchmark
// packages live below internal/benchkit: proc, perf (system calls counted
// by perf), load (the load generator) and serve (the ioloop servers under
// load). Like every package of the main module they import only the
// standard library, golang.org/x/sys and ioloop.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CPU is CPU time, split into user and system (kernel) time.
type CPU struct{ User, System time.Duration }

// Total is user plus system time.
func (c CPU) Total() time.Duration { return c.User + c.System }

// Sub returns the CPU time used between an earlier reading and c.
func (c CPU) Sub(earlier CPU) CPU { return CPU{c.User - earlier.User, c.System - earlier.System} }

// SelfCPU returns the CPU time this process has used, all threads, from
// getrusage(RUSAGE_SELF) (microsecond resolution): the same measure the C
// baselines use, so CPU per operation compares across tools. getrusage
// fails only for a bad pointer or an unknown who, neither of which can
// happen here, so a failure panics.
func SelfCPU() CPU {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		panic("proc: getrusage(RUSAGE_SELF): " + err.Error())
	}
	return CPU{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

// Meter measures wall time and this process's CPU time over a window.
type Meter struct {
	start    time.Time
	cpuStart CPU
}

// Interval is what a Meter measured.
type Interval struct {
	Wall time.Duration
	CPU  CPU
}

// StartMeter starts measuring.
func StartMeter() Meter { return Meter{start: time.Now(), cpuStart: SelfCPU()} }

// Started is when the Meter started.
func (m Meter) Started() time.Time { return m.start }

// Stop returns what was measured since StartMeter.
func (m Meter) Stop() Interval {
	return Interval{Wall: time.Since(m.start), CPU: SelfCPU().Sub(m.cpuStart)}
}

// PerSecond returns count per second of wall time.
func (iv Interval) PerSecond(count int64) float64 {
	return float64(count) / iv.Wall.Seconds()
}

// CPUMicrosPer returns this process's CPU microseconds per unit of work.
func (iv Interval) CPUMicrosPer(count int64) float64 {
	return MicrosPer(iv.CPU.Total(), count)
}

// Utilization returns cpu as a share of the wall time: 1.0 is one CPU
// busy all along.
func (iv Interval) Utilization(cpu time.Duration) float64 {
	return cpu.Seconds() / iv.Wall.Seconds()
}

// MicrosPer returns d in microseconds per unit of work, for CPU time
// measured some other way over an interval (another process's).
func MicrosPer(d time.Duration, count int64) float64 {
	return float64(d.Nanoseconds()) / 1e3 / float64(count)
}

// WaitTimeout waits for cmd to exit, killing it after timeout.
func WaitTimeout(cmd *exec.Cmd, timeout time.Duration) error {
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

// CloseFiles closes every file, ignoring errors: for pipes on error paths
// and once a child holds its own copies.
func CloseFiles(files ...*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

// LockedBuffer collects a child's output, written by os/exec's copying
// goroutine and read by ours. The zero value is ready to use.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// lineDone, once NotifyLine has made it, is closed when the first line
	// is complete.
	lineDone   chan struct{}
	lineClosed bool
}

// NotifyLine returns a channel closed once the first line is complete:
// how a parent waits for a child's "listening on ..." line. Call it
// before the child writes.
func (b *LockedBuffer) NotifyLine() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lineDone == nil {
		b.lineDone = make(chan struct{})
	}
	return b.lineDone
}

// Write appends p.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if b.lineDone != nil && !b.lineClosed && bytes.IndexByte(p, '\n') >= 0 {
		close(b.lineDone)
		b.lineClosed = true
	}
	return n, err
}

// String returns everything written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RaiseNoFile makes sure RLIMIT_NOFILE allows at least want descriptors:
// within the hard limit it raises the soft one; beyond it, it tries to
// raise the hard limit too, which needs CAP_SYS_RESOURCE (root has it).
func RaiseNoFile(want uint64) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	soft, hard := uint64(lim.Cur), uint64(lim.Max) // RLIM_INFINITY is the largest uint64
	if soft >= want {
		return nil
	}
	raised := lim
	setRlimit(&raised.Cur, want)
	setRlimit(&raised.Max, max(hard, want))
	err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised)
	if err == nil {
		return nil
	}
	return fmt.Errorf("need %d file descriptors but RLIMIT_NOFILE is %d (hard limit %d) and raising it failed: %w",
		want, soft, hard, err)
}

// setRlimit stores v in a field of unix.Rlimit, which is a uint64 on most
// systems and an int64 on FreeBSD.
func setRlimit[T int64 | uint64](field *T, v uint64) { *field = T(v) }
