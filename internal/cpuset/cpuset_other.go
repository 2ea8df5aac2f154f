//go:build !linux

package cpuset

import (
	"errors"
	"fmt"
	"runtime"
)

// ErrNeedsLinux is what every function returns outside Linux: CPU
// affinity has no portable interface (macOS has none at all; the BSDs'
// cpuset calls are not wrapped yet).
var ErrNeedsLinux = fmt.Errorf("CPU affinity is not supported on %s (Linux only): %w", runtime.GOOS, errors.ErrUnsupported)

// Allowed would return the CPUs this process may run on.
func Allowed() ([]int, error) { return nil, ErrNeedsLinux }

// PinThread would bind the calling thread to cpus.
func PinThread(...int) error { return ErrNeedsLinux }
