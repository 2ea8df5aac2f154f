//go:build !linux

package ioloop

import "errors"

// Pinning threads to CPUs is implemented on Linux only (macOS has no such
// interface; the BSDs' cpuset calls are not wrapped yet).
func allowedCPUs() ([]int, error) { return nil, errors.ErrUnsupported }

func pinThread(int) error { return errors.ErrUnsupported }
