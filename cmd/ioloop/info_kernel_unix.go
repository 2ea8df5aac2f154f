//go:build !windows

package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// probeKernel describes the running kernel (uname(2)).
func probeKernel() (kernelInfo, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return kernelInfo{}, fmt.Errorf("uname: %w", err)
	}
	return kernelInfo{
		Release: unix.ByteSliceToString(uts.Release[:]),
		Version: unix.ByteSliceToString(uts.Version[:]),
		Machine: unix.ByteSliceToString(uts.Machine[:]),
	}, nil
}

// platformLimits lists what the backends of this system do not support,
// for ioloop info: nothing beyond the per-backend notes on Unix.
var platformLimits []string
