//go:build race

package netconn

// raceEnabled reports whether the tests run under the race detector, which
// allocates on its own: allocation counts are not checked then.
const raceEnabled = true
