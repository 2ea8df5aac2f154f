package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// maxEchoLoops bounds `echo -loops`: far more loops than any machine has
// cores would only multiply rings and listeners without serving faster.
const maxEchoLoops = 1024

// groupEchoServer is `ioloop echo -loops N` with N > 1: the "one loop per
// core" architecture. Each of N loops, in an ioloop.Group, runs its own
// echoServer on its own SO_REUSEPORT listener (ioloop.ListenTCPShards),
// so the kernel spreads incoming connections across the loops and a
// connection lives and dies on the loop that accepted it: the loops share
// nothing while serving, and no lock is taken per message.
//
// The loops' counters belong to the loops' goroutines. While the group
// runs, stats reads them by posting a snapshot function to every loop and
// waiting for it (see shard.snapshot); once the group has shut down, their
// goroutines have exited and the counters are read directly.
type groupEchoServer struct {
	group     *ioloop.Group
	shards    []*echoShard
	listenFDs []int
	exited    chan struct{} // closed when every loop has closed
	fatal     chan struct{} // a loop's accept failed for good (see echoServer.onFatal)
	done      bool          // serve or shutdown has shut the group down
}

// echoShard is one loop's echoServer and the mailbox through which other
// goroutines read its counters.
type echoShard struct {
	srv  *echoServer
	snap echoStats
	// copied receives one value per snapshot, after snap is written: the
	// channel operation is what orders the loop's write before the
	// reader's read.
	copied chan struct{}
}

// snapshot runs on the shard's loop goroutine (posted by
// groupEchoServer.stats).
func (sh *echoShard) snapshot() {
	sh.snap = sh.srv.stats()
	sh.copied <- struct{}{}
}

// startGroupEcho listens on addr with n SO_REUSEPORT sockets and starts n
// loops serving them, loop i pinned to the i-th allowed CPU when pin is
// set. Fallback notes go to stderr as in newLoop.
func startGroupEcho(addr netip.AddrPort, n int, opts ioloop.Options, pin bool, bufSize int, stderr io.Writer) (*groupEchoServer, netip.AddrPort, error) {
	fds, bound, err := ioloop.ListenTCPShards(addr, n, ioloop.ListenOptions{NoDelay: true})
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("listen on %s: %w", addr, err)
	}
	gs := &groupEchoServer{
		shards: make([]*echoShard, n), listenFDs: fds,
		exited: make(chan struct{}), fatal: make(chan struct{}, 1),
	}
	signalFatal := func() {
		select {
		case gs.fatal <- struct{}{}:
		default: // already signalled: one is enough to stop the server
		}
	}
	// StartGroup runs the setups one after another, each on its own loop's
	// goroutine, and returns only after the last: writing shards[i] here
	// and reading it after StartGroup returns is ordered by StartGroup.
	setup := func(l *ioloop.Loop, i int) error {
		if reason := l.FallbackReason(); reason != nil {
			fmt.Fprintf(stderr, "# loop %d: backend %s: auto fell back from io_uring: %v\n", i, l.Backend(), reason)
		}
		srv := newEchoServer(l, fds[i], bufSize)
		srv.onFatal = signalFatal
		srv.start()
		gs.shards[i] = &echoShard{srv: srv, copied: make(chan struct{}, 1)}
		return nil
	}
	gs.group, err = ioloop.StartGroup(ioloop.GroupOptions{Loops: n, Loop: opts, PinCPUs: pin}, setup)
	if err != nil {
		gs.closeListeners()
		return nil, netip.AddrPort{}, err
	}
	go func() {
		_ = gs.group.Wait() // Shutdown returns the same errors
		close(gs.exited)
	}()
	return gs, bound, nil
}

// backend names the loops' backend: all loops are created with the same
// options, so they select the same one.
func (gs *groupEchoServer) backend() string { return gs.shards[0].srv.loop.Backend().String() }

// serve waits for SIGINT or SIGTERM (printing the counters on SIGUSR1), a
// fatal accept error on any loop, or a loop's failure, and then shuts the
// group down. Unlike the single loop's serve it blocks on the signals
// directly: the loops run on goroutines of their own.
func (gs *groupEchoServer) serve(signals <-chan os.Signal, stdout io.Writer) error {
	var sigErr error
	// Each pass handles one signal, a fatal accept or the group's exit, and
	// only SIGUSR1 goes round again: one per signal received.
	for stop := false; !stop; {
		select {
		case sig := <-signals:
			stop, sigErr = handleSignal(sig, gs, stdout)
			stop = stop || sigErr != nil
		case <-gs.fatal:
			stop = true
		case <-gs.exited:
			stop = true
		}
	}
	return errors.Join(sigErr, gs.shutdown())
}

// shutdown stops and closes every loop (Group.Shutdown: all stop, then
// all close, each canceling its connections' operations, whose close
// paths close the descriptors), then closes the listeners, which no
// Accept uses any more. It returns the loops' failures and fatal accept
// errors; calling it again returns nil.
func (gs *groupEchoServer) shutdown() error {
	if gs.done {
		return nil
	}
	gs.done = true
	err := gs.group.Shutdown()
	gs.closeListeners()
	errs := []error{err}
	for i, sh := range gs.shards {
		if sh.srv.fatal != nil {
			errs = append(errs, fmt.Errorf("loop %d: %w", i, sh.srv.fatal))
		}
	}
	return errors.Join(errs...)
}

func (gs *groupEchoServer) closeListeners() {
	for _, fd := range gs.listenFDs {
		_ = unix.Close(fd)
	}
	gs.listenFDs = nil
}

// stats sums the counters of every loop.
func (gs *groupEchoServer) stats() echoStats {
	var sum echoStats
	for _, st := range gs.loopStats() {
		sum.connections += st.connections
		sum.active += st.active
		sum.messages += st.messages
		sum.bytes += st.bytes
	}
	return sum
}

// loopStats returns each loop's counters. While the group runs it posts
// a snapshot to every loop first and then collects them, so the loops copy
// their counters in parallel, each between two of its passes. A Post
// that fails means the group is closing (a loop failed); the counters are
// then read once every loop has closed. It is called from one goroutine
// at a time (serve's, or the caller's after serve).
func (gs *groupEchoServer) loopStats() []echoStats {
	out := make([]echoStats, len(gs.shards))
	posted := make([]bool, len(gs.shards))
	closing := gs.done
	for i, sh := range gs.shards {
		if closing {
			break
		}
		// The inbox holds many entries and only this goroutine posts, one
		// at a time per loop: ErrQueueFull cannot happen, and ErrClosed
		// means the loop has begun closing.
		if err := ioloop.Post(gs.group.Loop(i), sh, (*echoShard).snapshot); err != nil {
			if !errors.Is(err, ioloop.ErrClosed) {
				panic(fmt.Sprintf("ioloop echo: posting a stats snapshot to loop %d: %v", i, err))
			}
			closing = true
			break
		}
		posted[i] = true
	}
	for i, sh := range gs.shards {
		if posted[i] {
			<-sh.copied // a successful Post runs exactly once, at the latest during Close
			out[i] = sh.snap
		}
	}
	if closing {
		<-gs.exited // every loop goroutine has exited: their counters are still
		for i, sh := range gs.shards {
			if !posted[i] {
				out[i] = sh.srv.stats()
			}
		}
	}
	return out
}
