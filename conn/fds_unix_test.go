//go:build !windows

package conn_test

import (
	"os"
	"testing"
)

// countProcessFDs counts the process's open descriptors, from
// /proc/self/fd (or /dev/fd on macOS and the BSDs).
func countProcessFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		entries, err = os.ReadDir("/dev/fd") // macOS and the BSDs
	}
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(entries) - 1 // the directory's own descriptor
}
