//go:build !windows && race

package main

// raceEnabled: the race detector's instrumentation allocates, so the
// allocation tests only report their counts under it.
const raceEnabled = true
