//go:build !linux

package ioloop

// Statx exists on Linux only, so the GC safety tests submit none here.

func gcSubmitStatx(*Loop, *gcTracker, string, int64, uint64) {}

func (*gcOp) checkStatx(*gcTracker, string, *statxBuffer) {}
