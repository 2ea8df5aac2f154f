//go:build !linux

package main

import (
	"runtime"
)

// probeIOURing reports that there is no io_uring to probe: it is Linux's.
func probeIOURing() (*sysctlInfo, *ringInfo, string) {
	return nil, nil, "io_uring exists only on Linux, not on " + runtime.GOOS
}
