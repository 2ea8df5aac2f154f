//go:build !linux && !windows

package ioloop

// probeDirectAlignment keeps DirectAlignment: only Linux reports the
// alignment direct I/O needs (statx STATX_DIOALIGN).
func probeDirectAlignment(*DirectFile) {}
