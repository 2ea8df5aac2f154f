package serve

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/ioloop/ioloop"
)

// EchoGroup is the echo server on N loops (`ioloop echo -loops N`): the
// "one loop per core" architecture. Each of N loops, in an ioloop.Group,
// runs its own Echo on its own SO_REUSEPORT listener (ioloop.ListenTCPShards),
// so the kernel spreads incoming connections across the loops and a
// connection lives and dies on the loop that accepted it: the loops share
// nothing while serving, and no lock is taken per message.
//
// The loops' counters belong to the loops' goroutines. While the group
// runs, Stats reads them by posting a snapshot function to every loop and
// waiting for it (see shard.snapshot); once the group has shut down, their
// goroutines have exited and the counters are read directly.
type EchoGroup struct {
	group     *ioloop.Group
	shards    []*echoShard
	listenFDs []int
	exited    chan struct{} // closed when every loop has closed
	fatal     chan struct{} // a loop's accept failed for good (see Echo.onFatal)
	done      bool          // Shutdown has shut the group down
}

// echoShard is one loop's server (Echo, or PooledEcho when the group
// has a pool per loop) and the mailbox through which other goroutines
// read its counters.
type echoShard struct {
	srv  shardServer
	loop *ioloop.Loop
	snap EchoStats
	// copied receives one value per snapshot, after snap is written: the
	// channel operation is what orders the loop's write before the
	// reader's read.
	copied chan struct{}
}

// shardServer is what a group needs of one loop's echo server.
type shardServer interface {
	Start()
	Fatal() error
	Stats() EchoStats
}

// snapshot runs on the shard's loop goroutine (posted by
// EchoGroup.LoopStats).
func (sh *echoShard) snapshot() {
	sh.snap = sh.srv.Stats()
	sh.copied <- struct{}{}
}

// StartEchoGroup listens on addr with n SO_REUSEPORT sockets and starts n
// loops serving them, loop i pinned to the i-th allowed CPU when pin is
// set. With poolBuffers 0 each loop runs Echo, receiving into bufSize
// bytes per connection; otherwise each runs PooledEcho with a BufferPool
// of its own, of poolBuffers buffers of bufSize bytes (loops share
// nothing, so neither do their pools). When a loop's BackendAuto fell
// back from io_uring, a '#' line on notes says so.
func StartEchoGroup(addr netip.AddrPort, n int, opts ioloop.Options, pin bool, poolBuffers, bufSize int, notes io.Writer) (*EchoGroup, netip.AddrPort, error) {
	fds, bound, err := ioloop.ListenTCPShards(addr, n, ioloop.ListenOptions{NoDelay: true})
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("listen on %s: %w", addr, err)
	}
	gs := &EchoGroup{
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
			fmt.Fprintf(notes, "# loop %d: backend %s: auto fell back from io_uring: %v\n", i, l.Backend(), reason)
		}
		var srv shardServer
		if poolBuffers > 0 {
			pooled, err := NewPooledEcho(l, fds[i], poolBuffers, bufSize)
			if err != nil {
				return fmt.Errorf("loop %d: %w", i, err)
			}
			pooled.onFatal = signalFatal
			srv = pooled
		} else {
			plain := NewEcho(l, fds[i], bufSize)
			plain.onFatal = signalFatal
			srv = plain
		}
		srv.Start()
		gs.shards[i] = &echoShard{srv: srv, loop: l, copied: make(chan struct{}, 1)}
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

// Backend names the loops' backend: all loops are created with the same
// options, so they select the same one.
func (gs *EchoGroup) Backend() string { return gs.shards[0].loop.Backend().String() }

// Exited is closed once every loop has closed: the group ended, on its
// own (a loop failed) or by Shutdown.
func (gs *EchoGroup) Exited() <-chan struct{} { return gs.exited }

// Failed receives a value when a loop's accept failed for good: the
// server cannot serve that loop's listener any more and should be shut
// down.
func (gs *EchoGroup) Failed() <-chan struct{} { return gs.fatal }

// Group is the group of loops.
func (gs *EchoGroup) Group() *ioloop.Group { return gs.group }

// Shutdown stops and closes every loop (Group.Shutdown: all stop, then
// all close, each canceling its connections' operations, whose close
// paths close the descriptors), then closes the listeners, which no
// Accept uses any more. It returns the loops' failures and fatal accept
// errors; calling it again returns nil.
func (gs *EchoGroup) Shutdown() error {
	if gs.done {
		return nil
	}
	gs.done = true
	err := gs.group.Shutdown()
	gs.closeListeners()
	errs := []error{err}
	for i, sh := range gs.shards {
		if err := sh.srv.Fatal(); err != nil {
			errs = append(errs, fmt.Errorf("loop %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

func (gs *EchoGroup) closeListeners() {
	for _, fd := range gs.listenFDs {
		_ = CloseFD(fd)
	}
	gs.listenFDs = nil
}

// Stats sums the counters of every loop; see LoopStats.
func (gs *EchoGroup) Stats() EchoStats {
	var sum EchoStats
	for _, st := range gs.LoopStats() {
		sum = sum.Add(st)
	}
	return sum
}

// LoopStats returns each loop's counters. While the group runs it posts
// a snapshot to every loop first and then collects them, so the loops copy
// their counters in parallel, each between two of its passes. A Post
// that fails means the group is closing (a loop failed); the counters are
// then read once every loop has closed. It is called from one goroutine
// at a time.
func (gs *EchoGroup) LoopStats() []EchoStats {
	out := make([]EchoStats, len(gs.shards))
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
				panic(fmt.Sprintf("ioloop: posting a stats snapshot to loop %d: %v", i, err))
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
				out[i] = sh.srv.Stats()
			}
		}
	}
	return out
}
