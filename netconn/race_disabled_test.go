//go:build !race

package netconn

// raceEnabled reports whether the tests run under the race detector.
const raceEnabled = false
