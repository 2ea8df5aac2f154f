//go:build !windows

package load

import (
	"math/bits"
	"time"
)

// Histogram records durations in fixed log-linear buckets, like
// HdrHistogram: every power-of-two range [2^k, 2^(k+1)) of nanoseconds is
// split into histSub equal buckets, so a bucket's width is at most 1/histSub
// of its values (about 3%) and the midpoint is within about 1.6% of any
// value in it. Recording is an index computation and an increment: no
// allocation, no sorting, whatever the number of samples.
type Histogram struct {
	counts [histBuckets]uint64
	total  uint64
}

const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	// Values below histSub get one bucket each; then one row of histSub
	// buckets per power of two up to 2^64.
	histBuckets = (64 - histSubBits + 1) * histSub
)

// Record adds one sample; a negative one (a clock step) counts as 0.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[histIndex(v)]++
	h.total++
}

// Reset forgets every sample.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count returns how many samples were recorded.
func (h *Histogram) Count() int64 { return int64(h.total) }

// histIndex maps a value to its bucket. Row 0 holds 0..histSub-1 exactly;
// row r >= 1 holds [histSub<<(r-1), histSub<<r), histSub buckets wide
// 1<<(r-1) each.
func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1 // >= 0: v has more than histSubBits bits
	top := v >> shift                        // in [histSub, 2*histSub)
	return (shift+1)*histSub + int(top-histSub)
}

// histBounds returns the smallest and largest value of a bucket.
func histBounds(index int) (lo, hi uint64) {
	if index < histSub {
		return uint64(index), uint64(index)
	}
	row := index / histSub // >= 1
	shift := row - 1
	top := uint64(histSub + index%histSub)
	lo = top << shift
	hi = lo + (uint64(1) << shift) - 1
	return lo, hi
}

// Quantile returns the value at quantile q (0 < q <= 1): the midpoint of
// the bucket holding the ceil(q*total)-th smallest sample, or 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.total))
	if float64(rank) < q*float64(h.total) {
		rank++ // ceil
	}
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, n := range h.counts {
		seen += n
		if seen >= rank {
			lo, hi := histBounds(i)
			return time.Duration(lo + (hi-lo)/2)
		}
	}
	return 0 // unreachable: the counts add up to total
}
