// Package samples answers percentiles of latency samples exactly. (The
// load generator records into the fixed-bucket histogram of package
// load instead, which needs no sorting and no memory per sample.)
package samples

import (
	"time"
)

// Quantiles returns the values of sorted (ascending, in nanoseconds) at
// each quantile (0 < q <= 1), by the nearest-rank method; zeros when
// sorted is empty.
func Quantiles[T ~int64 | ~uint32](sorted []T, qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	if len(sorted) == 0 {
		return out
	}
	for i, q := range qs {
		rank := int(q*float64(len(sorted))+0.5) - 1
		out[i] = time.Duration(sorted[min(max(rank, 0), len(sorted)-1)])
	}
	return out
}
