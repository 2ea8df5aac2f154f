package simcore

import (
	"math/bits"
	"time"
)

// Rand is the world's only source of randomness: xoshiro256** seeded
// through splitmix64. It is small, fast (no locking, no allocation) and
// fully determined by the seed, which is what makes a simulation
// replayable; math/rand's global functions would not be.
type Rand struct {
	s [4]uint64
}

// NewRand returns a generator determined by seed.
func NewRand(seed uint64) *Rand {
	r := &Rand{}
	r.Seed(seed)
	return r
}

// Seed resets the generator to the sequence seed determines.
func (r *Rand) Seed(seed uint64) {
	for i := range r.s {
		seed += 0x9e3779b97f4a7c15
		z := seed
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		r.s[i] = z ^ (z >> 31)
	}
}

func rotl(x uint64, k uint) uint64 { return x<<k | x>>(64-k) }

// Uint64 returns the next 64 random bits.
func (r *Rand) Uint64() uint64 {
	s := &r.s
	result := rotl(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = rotl(s[3], 45)
	return result
}

// Intn returns a number in [0, n); n must be positive.
func (r *Rand) Intn(n int) int {
	if n <= 0 {
		panic("simcore: Intn with a non-positive bound")
	}
	// Lemire's multiply-shift; the bias for n far below 2^64 is negligible
	// for a simulator and the result stays deterministic.
	hi, _ := bits.Mul64(r.Uint64(), uint64(n))
	return int(hi)
}

// Float64 returns a number in [0, 1).
func (r *Rand) Float64() float64 { return float64(r.Uint64()>>11) / (1 << 53) }

// Chance reports true with probability p (p <= 0: never, p >= 1: always).
// It draws no number when p <= 0, so turning a fault off does not shift
// the sequence of the draws that remain.
func (r *Rand) Chance(p float64) bool {
	if p <= 0 {
		return false
	}
	return r.Float64() < p
}

// Between returns a duration in [lo, hi] in nanoseconds.
func (r *Rand) Between(lo, hi time.Duration) int64 {
	if hi <= lo {
		return int64(lo)
	}
	return int64(lo) + int64(r.Uint64()%uint64(hi-lo+1))
}
