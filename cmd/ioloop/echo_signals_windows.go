package main

import (
	"os"
	"syscall"
)

// echoSignals are the signals `ioloop echo` handles on Windows: Ctrl-C
// (os.Interrupt) and the console's close, logoff and shutdown events,
// which package os/signal delivers as SIGTERM, stop it.
var echoSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// statsSignal is nil: Windows has no SIGUSR1, so the counters are printed
// by -stats D and at exit only.
var statsSignal os.Signal
