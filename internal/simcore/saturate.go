package simcore

import "math"

// AddSaturatingNs returns a+b, clamped to the int64 range instead of
// wrapping: a deadline of now plus math.MaxInt64 is the end of time, not a
// moment in the distant past. Both the simulator and the loop's own timers
// compute deadlines with it.
func AddSaturatingNs(a, b int64) int64 {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}
