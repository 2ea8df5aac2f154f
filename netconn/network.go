package netconn

import (
	"errors"
	"math"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ioloop/ioloop"
)

// DefaultInboxEntries is the inbox size a Network gives its loop when
// ioloop.Options.InboxEntries is 0: every blocked Read, Write, Accept,
// Dial and Close is one posted function, so the inbox must hold a few per
// connection. A full inbox is not an error here (the caller yields and
// posts again), only a slower path.
const DefaultInboxEntries = 1 << 16

// A Network owns one ioloop.Loop and the goroutine that runs it. The
// net.Conn and net.Listener values its Dial and Listen return do their I/O
// through that loop: a blocking call posts a request to the loop
// (ioloop.Post), and the loop submits the operation and wakes the caller
// from its callback. Any number of goroutines may use a Network and its
// connections at once.
type Network struct {
	loop *ioloop.Loop
	// stopping is set by Close before it stops the loop.
	stopping atomic.Bool
	// done is closed when the loop has closed and every descriptor it
	// still held is closed.
	done chan struct{}
	// runErr is the loop's own failure, if RunFor returned one; read
	// after done.
	runErr error

	// conns and listeners are the open sockets, owned by the loop's
	// goroutine; Close's teardown closes what is left of them.
	conns     map[*Conn]struct{}
	listeners map[*Listener]struct{}
	// loopClosing is set on the loop's goroutine before it closes the
	// loop, so that callbacks run by Close arm no new timers.
	loopClosing bool
	// woke is set (on the loop's goroutine) when a callback has woken a
	// caller during the current run; it has then asked the run to end
	// (Loop.Stop), so that the loop yields before it blocks again.
	woke bool
}

// Options configures a Network.
type Options struct {
	// Loop configures the Network's loop: its backend, queue sizes, timer
	// slack. Loop.InboxEntries 0 means DefaultInboxEntries. Loop.LockedThread
	// is set unless UnlockedThread is.
	Loop ioloop.Options
	// UnlockedThread runs the loop on an ordinary goroutine instead of one
	// locked to its OS thread. It is there for comparison: measured with
	// net/http (docs/BENCHMARKS.md, "net.Conn adapter"), the locked thread
	// was never clearly worse, and much better when the CPU was contended.
	UnlockedThread bool
}

// New starts a Network: it creates a loop with opts.Loop on a goroutine of
// its own, locked to its OS thread for the loop's whole life (on io_uring
// that enables IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN), and runs it
// until Close. It fails with the loop's *ioloop.SetupError when the
// backend cannot be set up.
func New(opts Options) (*Network, error) {
	loopOpts := opts.Loop
	if loopOpts.InboxEntries == 0 {
		loopOpts.InboxEntries = DefaultInboxEntries
	}
	loopOpts.LockedThread = !opts.UnlockedThread
	nw := &Network{
		done:      make(chan struct{}),
		conns:     make(map[*Conn]struct{}),
		listeners: make(map[*Listener]struct{}),
	}
	ready := make(chan error)
	go nw.run(loopOpts, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	return nw, nil
}

// run is the loop's goroutine: it creates the loop on its locked thread,
// runs it until Close stops it, then closes it and everything left.
func (nw *Network) run(opts ioloop.Options, ready chan<- error) {
	if opts.LockedThread {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	}
	loop, err := ioloop.New(opts)
	if err != nil {
		ready <- err
		return
	}
	nw.loop = loop
	ready <- nil
	for !nw.stopping.Load() {
		// A huge duration runs until Stop; the loop checks stopping
		// again, since a Stop may also come from elsewhere.
		if err := loop.RunFor(math.MaxInt64); err != nil {
			nw.runErr = err
			break
		}
		if nw.woke {
			// The callers woken in that run are runnable, most likely on
			// this goroutine's P. Blocking in the kernel now would keep
			// them waiting until the runtime's monitor retakes the P (20
			// µs to 10 ms); yielding lets them run, and post their next
			// requests, first.
			nw.woke = false
			runtime.Gosched()
		}
	}
	// Close cancels what is in flight: every waiter is woken by its
	// callback (ErrCanceled, reported as net.ErrClosed), and functions
	// posted before the inbox closed still run.
	nw.loopClosing = true
	if err := loop.Close(); err != nil && nw.runErr == nil {
		nw.runErr = err
	}
	nw.teardown()
	close(nw.done)
}

// teardown closes the descriptors that were still open when the loop
// closed, and releases their Close calls. It runs on the loop's goroutine
// after the loop has closed, so nothing else touches these sockets.
func (nw *Network) teardown() {
	for c := range nw.conns {
		c.closeFDNow()
	}
	for l := range nw.listeners {
		l.closeFDNow()
	}
	clear(nw.conns)
	clear(nw.listeners)
}

// Backend returns the kernel interface the Network's loop runs on.
func (nw *Network) Backend() ioloop.Backend { return nw.loop.Backend() }

// Close closes every connection and listener of the Network (pending calls
// return net.ErrClosed, descriptors are closed), stops its loop and waits
// for the loop's goroutine to end. It returns the loop's own failure, if
// it had one, and net.ErrClosed when the Network was already closed.
func (nw *Network) Close() error {
	if !nw.stopping.CompareAndSwap(false, true) {
		<-nw.done
		return net.ErrClosed
	}
	nw.loop.Stop()
	<-nw.done
	return nw.runErr
}

// wakeCaller is called on the loop's goroutine after a callback or posted
// function has handed a result to a caller (every send on a done channel,
// every close of a closed channel): it ends the current run once its pass
// is over (see run).
func (nw *Network) wakeCaller() {
	if !nw.woke {
		nw.woke = true
		nw.loop.Stop()
	}
}

// post runs fn(ctx) on nw's loop. A full inbox makes the caller yield and
// try again (each connection has a bounded number of requests queued at
// once, so this ends); it fails only with ioloop.ErrClosed, once the
// Network is closing. It does not allocate.
func post[T any](nw *Network, ctx *T, fn func(*T)) error {
	for spins := 0; ; spins++ {
		err := ioloop.Post(nw.loop, ctx, fn)
		if err != ioloop.ErrQueueFull {
			return err
		}
		if spins < 16 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// base is the origin of the monotonic clock deadlines are kept on.
var base = time.Now()

// monoNs returns t on the package's monotonic clock: nanoseconds since
// base (t's monotonic reading when it has one, as time.Now's results do).
// The zero time is 0 (no deadline); any other time maps to at least 1, so
// that a deadline long past is still a deadline.
func monoNs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(int64(t.Sub(base)), 1)
}

// nowNs returns the current time on the package's monotonic clock.
func nowNs() int64 { return int64(time.Since(base)) }

// The Network behind the package-level Listen, Dial and DialContext,
// started on first use and never closed, like the net package's poller.
var (
	defaultOnce    sync.Once
	defaultNetwork *Network
	defaultErr     error
)

// Default returns the Network that the package-level functions use,
// starting it on the first call with Options{} (the backend
// ioloop.BackendAuto selects, which the IOLOOP_BACKEND environment
// variable can override).
func Default() (*Network, error) {
	defaultOnce.Do(func() { defaultNetwork, defaultErr = New(Options{}) })
	return defaultNetwork, defaultErr
}

// errNoNetwork wraps a failure to start the default Network.
func errNoNetwork(op, network string, err error) error {
	return &net.OpError{Op: op, Net: network, Err: errors.Join(errors.New("netconn: cannot start the loop"), err)}
}
