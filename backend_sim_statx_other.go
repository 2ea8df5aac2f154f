//go:build !linux

package ioloop

import "github.com/ioloop/ioloop/internal/simcore"

// Statx is Linux-only, so there is nothing to fill elsewhere.
func simStatFlags(uint32) uint32 { return 0 }

func fillSimStat(*statxBuffer, *simcore.Stat) {}
