//go:build !linux

package main

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"time"
)

// CPU affinity and another process's CPU time have no portable interface
// outside Linux (macOS has no affinity at all), so `bench echo -server`
// runs there unpinned and cannot report the server's CPU time.
var errNeedsLinux = fmt.Errorf("not supported on %s (Linux only): %w", runtime.GOOS, errors.ErrUnsupported)

func allowedCPUs() ([]int, error) { return nil, fmt.Errorf("CPU affinity %w", errNeedsLinux) }

func startPinned(cmd *exec.Cmd, cpu int) error {
	if cpu >= 0 {
		return fmt.Errorf("pinning to a CPU is %w", errNeedsLinux)
	}
	return cmd.Start()
}

func pinProcess(int) error { return fmt.Errorf("pinning to a CPU is %w", errNeedsLinux) }

func processCPUOf(int) (time.Duration, error) {
	return 0, fmt.Errorf("measuring another process's CPU time is %w", errNeedsLinux)
}

// machineBusy would read /proc/stat, which exists on Linux only: unknown.
func machineBusy() time.Duration { return -1 }
