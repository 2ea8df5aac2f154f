//go:build !linux && !windows

package ioloop

// osThreadID returns 0, "unknown": the BSDs and macOS have no thread id
// x/sys/unix reads without cgo, and the tests skip their thread checks.
func osThreadID() int { return 0 }
