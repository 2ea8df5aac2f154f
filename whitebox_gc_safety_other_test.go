//go:build !linux

package ioloop

import "testing"

// Statx exists on Linux only, so the GC safety tests submit none here.

func gcSubmitStatx(*Loop, *gcTracker, string, int64, uint64) {}

func (*gcOp) checkStatx(*gcTracker, string, *statxBuffer) {}

func simFileIno(*testing.T, *Loop, string) uint64 { return 0 }

func kernelFileIno(*testing.T, int) uint64 { return 0 }
