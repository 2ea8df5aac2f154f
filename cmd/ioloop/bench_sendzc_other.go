//go:build !linux && !windows

package main

import (
	"errors"
	"io"
	"runtime"
)

// runBenchSendZC is Linux's only: SendZC is Send everywhere else (there is
// no IORING_OP_SEND_ZC to compare with), and the sender's CPU is measured
// per thread with getrusage(RUSAGE_THREAD), which macOS lacks.
func runBenchSendZC(_ []string, _, stderr io.Writer) int {
	return fail(stderr, "ioloop bench sendzc", errors.New("needs Linux (io_uring's IORING_OP_SEND_ZC), not "+runtime.GOOS))
}
