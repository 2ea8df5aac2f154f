//go:build race

package main

// raceEnabled: the tests run under the race detector, whose
// instrumentation allocates (so allocation counts are not checked then).
const raceEnabled = true
