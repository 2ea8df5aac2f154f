//go:build !windows && race

package conn_test

const raceEnabled = true
