//go:build race

package ioloop

// raceEnabled reports whether the tests run under the race detector, which
// makes the remote-work stress test run longer (the issue asks for 10 s).
const raceEnabled = true
