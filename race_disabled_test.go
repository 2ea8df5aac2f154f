//go:build !race

package ioloop

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = false
