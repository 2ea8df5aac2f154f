// Package samples keeps latency samples and answers percentiles exactly.
package samples

import (
	"slices"
	"time"
)

// Recorder keeps up to its capacity of samples in nanoseconds (uint32:
// up to 4.29 s; longer ones are clamped); past that it keeps every k-th,
// doubling k whenever it fills up again, so percentiles stay unbiased
// within a factor of the sampling. Recording neither allocates nor sorts.
type Recorder struct {
	ns    []uint32
	every uint64 // keep one sample in every
	seen  uint64
}

// New returns a Recorder that holds at most capacity samples.
func New(capacity int) *Recorder {
	return &Recorder{ns: make([]uint32, 0, max(capacity, 2)), every: 1}
}

// Record adds one sample.
func (r *Recorder) Record(d time.Duration) {
	r.seen++
	if r.seen%r.every != 0 {
		return
	}
	if len(r.ns) == cap(r.ns) {
		// Keep every other sample and halve the rate from now on.
		half := r.ns[:0]
		for i := 1; i < len(r.ns); i += 2 {
			half = append(half, r.ns[i])
		}
		r.ns = half
		r.every *= 2
	}
	r.ns = append(r.ns, uint32(min(max(d, 0), 1<<32-1)))
}

// Reset forgets every sample.
func (r *Recorder) Reset() {
	r.ns = r.ns[:0]
	r.every, r.seen = 1, 0
}

// Percentiles sorts the samples and returns the values at each quantile
// (0 < q <= 1), or zeros when there are none.
func (r *Recorder) Percentiles(qs ...float64) []time.Duration {
	slices.Sort(r.ns)
	return Quantiles(r.ns, qs...)
}

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
