//go:build !windows

package main

import (
	"os"
	"syscall"
)

// echoSignals are the signals `ioloop echo` handles: SIGINT and SIGTERM
// stop it, statsSignal prints its counters.
var echoSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1}

// statsSignal asks a running `ioloop echo` for its counters so far.
var statsSignal os.Signal = syscall.SIGUSR1
