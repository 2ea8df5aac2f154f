//go:build !linux && !windows

package proc

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"time"
)

// Another process's CPU time and memory, and CPU affinity, have no
// portable interface outside Linux (macOS has no affinity at all), so the
// benchmarks run unpinned there and cannot report a server's CPU time.
var errNeedsLinux = fmt.Errorf("not supported on %s (Linux only): %w", runtime.GOOS, errors.ErrUnsupported)

// StartPinned starts cmd; binding it to cpus is Linux only.
func StartPinned(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) > 0 {
		return fmt.Errorf("pinning to a CPU is %w", errNeedsLinux)
	}
	return cmd.Start()
}

// PinProcess would bind this process to cpu.
func PinProcess(int) error { return fmt.Errorf("pinning to a CPU is %w", errNeedsLinux) }

// ProcessCPU would read another process's CPU time from /proc.
func ProcessCPU(int) (CPU, error) {
	return CPU{}, fmt.Errorf("measuring another process's CPU time is %w", errNeedsLinux)
}

// Self is the pid Memory takes for this process.
const Self = 0

// Memory would read a size field of /proc/PID/status.
func Memory(int, string) (int64, error) {
	return 0, fmt.Errorf("reading a process's memory is %w", errNeedsLinux)
}

// MachineBusy would read /proc/stat, which exists on Linux only: unknown.
func MachineBusy() time.Duration { return -1 }
