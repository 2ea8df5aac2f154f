package ioloop

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// GroupOptions configures a Group.
type GroupOptions struct {
	// Loops is the number of loops. Default 0 means runtime.GOMAXPROCS(0).
	Loops int
	// Loop configures every loop. The Group sets LockedThread: each loop is
	// created, driven and closed by one goroutine locked to its own thread.
	Loop Options
	// PinCPUs pins loop i's thread to the i-th CPU (modulo their number) of
	// the CPUs the process may run on, so that each loop keeps its caches
	// and the scheduler cannot stack two loops on one core. Linux only;
	// elsewhere StartGroup fails with errors.ErrUnsupported.
	PinCPUs bool
	// Stopping, if set, runs on each loop's goroutine when the group shuts
	// down, before the loop closes: the place to stop accepting (close the
	// loop's listener) and to tell peers goodbye. It may submit operations;
	// Close completes them.
	Stopping func(l *Loop, index int)
}

// A Group runs several loops, each on its own goroutine locked to its own
// OS thread (optionally pinned to a CPU): the "one loop per core"
// architecture, where each loop owns its share of the connections (for
// example through its own SO_REUSEPORT listener, see ListenTCPShards) and
// loops exchange work with Message or Post. The loops run from StartGroup
// until Shutdown (or until one fails); other goroutines use Group.Loop only
// as a target of Post, Message, NewEvent/Trigger and Stop, never to drive
// it.
//
// Shutdown is ordered: first every loop stops running and runs the
// Stopping hook; once all have, every loop closes (Loop.Close: pending
// operations are canceled and every callback runs exactly once, and
// functions posted before the close began run too). A Post or Message to a
// loop that has begun closing returns ErrClosed.
type Group struct {
	loops    []*Loop
	stopping atomic.Bool
	// running counts loops that have not finished running; the last one
	// to stop releases the others to close.
	running   sync.WaitGroup
	exited    sync.WaitGroup
	startGate chan struct{}

	mu   sync.Mutex
	errs []error // failures of loops (RunFor, Close), in the order they happened
}

// StartGroup creates opts.Loops loops and starts them. For each loop in
// index order, setup (if non-nil) runs on that loop's goroutine after the
// loop is created and before any loop runs; it typically opens or adopts a
// listener and submits the first Accepts. If a setup or a loop's creation
// fails, the loops created so far are shut down and the error is returned.
func StartGroup(opts GroupOptions, setup func(l *Loop, index int) error) (*Group, error) {
	n := opts.Loops
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if n < 0 {
		return nil, fmt.Errorf("ioloop: GroupOptions.Loops is negative (%d)", n)
	}
	var cpus []int
	if opts.PinCPUs {
		var err error
		if cpus, err = allowedCPUs(); err != nil {
			return nil, fmt.Errorf("ioloop: GroupOptions.PinCPUs: %w", err)
		}
	}
	g := &Group{loops: make([]*Loop, n), startGate: make(chan struct{})}
	g.running.Add(n)
	for i := range n {
		cpu := -1
		if cpus != nil {
			cpu = cpus[i%len(cpus)]
		}
		ready := make(chan error, 1)
		g.exited.Add(1)
		go g.run(opts, i, cpu, setup, ready)
		if err := <-ready; err != nil {
			g.running.Add(-(n - i)) // loops i..n-1 will never run
			g.stopping.Store(true)
			close(g.startGate)
			g.exited.Wait()
			return nil, errors.Join(append([]error{fmt.Errorf("ioloop: loop %d of the group: %w", i, err)}, g.errs...)...)
		}
	}
	close(g.startGate)
	return g, nil
}

// Len returns the number of loops.
func (g *Group) Len() int { return len(g.loops) }

// Loop returns loop index, to Post, Message, Trigger or Stop into; only its
// own goroutine drives it.
func (g *Group) Loop(index int) *Loop { return g.loops[index] }

// Shutdown stops and closes every loop in order (see Group) and waits for
// their goroutines to exit. It returns the failures of the group's loops,
// if any; calling it again returns the same.
func (g *Group) Shutdown() error {
	g.requestStop()
	return g.Wait()
}

// Wait waits until every loop has closed, after Shutdown or because a loop
// failed (a loop whose RunFor fails shuts the whole group down), and
// returns the failures.
func (g *Group) Wait() error {
	g.exited.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return errors.Join(g.errs...)
}

func (g *Group) requestStop() {
	if g.stopping.Swap(true) {
		return
	}
	for _, l := range g.loops {
		l.Stop()
	}
}

func (g *Group) fail(index int, what string, err error) {
	g.mu.Lock()
	g.errs = append(g.errs, fmt.Errorf("ioloop: loop %d of the group: %s: %w", index, what, err))
	g.mu.Unlock()
}

// groupRunSlice is how long one RunFor of a group's loop lasts. Stop ends
// it early, so it only bounds how long a loop runs without checking that
// the group is still running in the absence of any Stop.
const groupRunSlice = time.Hour

// run is loop index's goroutine. It never unlocks its thread: when it
// exits, the runtime ends the thread, so a thread pinned to one CPU never
// returns to the pool that runs other goroutines.
func (g *Group) run(opts GroupOptions, index, cpu int, setup func(*Loop, int) error, ready chan<- error) {
	defer g.exited.Done()
	runtime.LockOSThread()
	if cpu >= 0 {
		if err := pinThread(cpu); err != nil {
			ready <- fmt.Errorf("pin to CPU %d: %w", cpu, err)
			return
		}
	}
	loopOpts := opts.Loop
	loopOpts.LockedThread = true
	l, err := New(loopOpts)
	if err != nil {
		ready <- err
		return
	}
	g.loops[index] = l
	if setup != nil {
		if err := setup(l, index); err != nil {
			if closeErr := l.Close(); closeErr != nil {
				g.fail(index, "Close after a failed setup", closeErr)
			}
			ready <- err
			return
		}
	}
	ready <- nil
	<-g.startGate
	for !g.stopping.Load() {
		if err := l.RunFor(groupRunSlice); err != nil {
			g.fail(index, "RunFor", err)
			g.requestStop()
			break
		}
	}
	if opts.Stopping != nil {
		opts.Stopping(l, index)
	}
	g.running.Done()
	g.running.Wait() // every loop has stopped running: now they close
	if err := l.Close(); err != nil {
		g.fail(index, "Close", err)
	}
}

// ListenTCPShards opens n listening TCP sockets on addr with SO_REUSEPORT
// (see ListenOptions.ReusePort), one per loop of a Group, so that the
// kernel spreads incoming connections across the loops. With port 0 the
// first socket picks a free port and the others join it. It returns the
// sockets (close them when done) and the bound address.
func ListenTCPShards(addr netip.AddrPort, n int, opts ListenOptions) (fds []int, bound netip.AddrPort, err error) {
	if n < 1 {
		return nil, netip.AddrPort{}, fmt.Errorf("ioloop: ListenTCPShards: n must be at least 1, got %d", n)
	}
	opts.ReusePort = true
	fds = make([]int, 0, n)
	bound = addr
	for range n {
		fd, got, err := ListenTCP(bound, opts)
		if err != nil {
			for _, open := range fds {
				_ = sysCloseFD(open)
			}
			return nil, netip.AddrPort{}, err
		}
		fds = append(fds, fd)
		bound = got
	}
	return fds, bound, nil
}
