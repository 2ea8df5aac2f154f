package main

import (
	"errors"
	"io"
	"os"

	"github.com/ioloop/ioloop/internal/benchkit/serve"
)

// maxEchoLoops bounds `echo -loops`: far more loops than any machine has
// cores would only multiply rings and listeners without serving faster.
const maxEchoLoops = 1024

// groupEcho is `ioloop echo -loops N` with N > 1: the echo server on a
// Group of loops (serve.EchoGroup), waited for from this goroutine.
type groupEcho struct{ *serve.EchoGroup }

func (gs groupEcho) stats() serve.EchoStats { return gs.Stats() }

func (gs groupEcho) shutdown() error { return gs.Shutdown() }

// serve waits for SIGINT or SIGTERM (printing the counters on SIGUSR1), a
// fatal accept error on any loop, or a loop's failure, and then shuts the
// group down. Unlike the single loop's serve it blocks on the signals
// directly: the loops run on goroutines of their own.
func (gs groupEcho) serve(signals <-chan os.Signal, stdout io.Writer) error {
	var sigErr error
	// Each pass handles one signal, a fatal accept or the group's exit, and
	// only SIGUSR1 goes round again: one per signal received.
	for stop := false; !stop; {
		select {
		case sig := <-signals:
			stop, sigErr = handleSignal(sig, gs, stdout)
			stop = stop || sigErr != nil
		case <-gs.Failed():
			stop = true
		case <-gs.Exited():
			stop = true
		}
	}
	return errors.Join(sigErr, gs.Shutdown())
}
