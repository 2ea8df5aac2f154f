package ioloop

import "github.com/ioloop/ioloop/internal/simcore"

// addSaturatingNs is a+b clamped to the int64 range (see
// simcore.AddSaturatingNs): deadlines computed from huge durations, such
// as Timeout(math.MaxInt64) or RunFor(math.MaxInt64), mean "never" instead
// of wrapping into the past.
func addSaturatingNs(a, b int64) int64 { return simcore.AddSaturatingNs(a, b) }
