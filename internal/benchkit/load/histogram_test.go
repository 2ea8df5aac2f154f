//go:build !windows

package load

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramBucketsTileTheRange(t *testing.T) {
	// Consecutive buckets must be contiguous and cover 0..2^64-1, so every
	// value lands in exactly one bucket whose bounds contain it.
	var next uint64
	for i := 0; i < histBuckets; i++ {
		lo, hi := histBounds(i)
		if lo != next || hi < lo {
			t.Fatalf("bucket %d = [%d, %d], want it to start at %d", i, lo, hi, next)
		}
		if histIndex(lo) != i || histIndex(hi) != i {
			t.Fatalf("bucket %d = [%d, %d] but histIndex gives %d and %d", i, lo, hi, histIndex(lo), histIndex(hi))
		}
		next = hi + 1
	}
	if next != 0 { // wrapped past 2^64-1
		t.Fatalf("buckets end at %d, want 2^64-1", next-1)
	}
}

func TestHistogramQuantilesWithinBucketError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	samples := make([]time.Duration, 100_000)
	for i := range samples {
		// Log-uniform from 1µs to 100ms, like real latencies.
		d := time.Duration(float64(time.Microsecond) * math.Pow(10, rng.Float64()*5))
		samples[i] = d
		h.Record(d)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := samples[int(q*float64(len(samples)))-1]
		got := h.Quantile(q)
		if diff := float64(got-exact) / float64(exact); diff > 0.017 || diff < -0.017 {
			t.Errorf("quantile(%v) = %v, exact %v (%.2f%% off, want within 1.7%%)", q, got, exact, 100*diff)
		}
	}
}

func TestHistogramEdgeCases(t *testing.T) {
	var h Histogram
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("empty Histogram quantile = %v, want 0", got)
	}
	h.Record(-5) // a clock step must not index out of range
	h.Record(7)
	if got := h.Quantile(1); got != 7 {
		t.Errorf("quantile(1) = %v, want 7ns (small values are exact)", got)
	}
	h.Reset()
	if h.total != 0 {
		t.Errorf("reset left total = %d", h.total)
	}
}

func TestHistogramRecordDoesNotAllocate(t *testing.T) {
	var h Histogram
	allocs := testing.AllocsPerRun(100, func() { h.Record(1234 * time.Microsecond) })
	if allocs != 0 {
		t.Errorf("record allocates %v times per call", allocs)
	}
}
