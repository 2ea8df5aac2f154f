package sim

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/simcore"
)

// ErrDeadlock is returned by a simulated Loop's Run (and by Close) when
// the loop waits for operations that nothing in the world can complete.
var ErrDeadlock = simcore.ErrDeadlock

// Epoch is the time a World starts at, as Loop.Now and World.Now report it.
var Epoch = simcore.Epoch

// A World is a deterministic simulation: nodes, each with its own Loop,
// a network between them, a disk each, one virtual clock and one random
// sequence drawn from the seed. Everything happens on the goroutine that
// drives the world (World.RunFor, or any of its loops' RunFor, Tick or
// Run), in an order decided only by the seed and the program.
type World struct {
	core  *simcore.World
	nodes []*Node
}

// NewWorld creates a world with no nodes.
func NewWorld(opts Options) *World {
	return &World{core: simcore.NewWorld(opts.core())}
}

// SetTrace makes the world write its trace, one line per event, to out
// (nil: stop). The trace's hash is kept either way (TraceHash).
func (w *World) SetTrace(out io.Writer) { w.core.Trace().SetWriter(out) }

// TraceHash is a hash of every trace line so far: two runs with the same
// seed and program have the same hash; different seeds almost surely not.
func (w *World) TraceHash() string { return w.core.Trace().Hash() }

// TraceLines is how many lines the trace has.
func (w *World) TraceLines() uint64 { return w.core.Trace().Lines() }

// Note adds a line of the program's own to the trace (and so to its hash).
func (w *World) Note(what string) { w.core.Trace().Note(w.core.NowNs(), what) }

// AddNode adds a node named name with the next free address in 10.0.0.0/8
// (10.0.0.1 for the first) and returns it with its Loop ready to use.
func (w *World) AddNode(name string) *Node {
	index := len(w.nodes) + 1
	addr := netip.AddrFrom4([4]byte{10, byte(index >> 16), byte(index >> 8), byte(index)})
	n := &Node{world: w, core: w.core.NewNode(name, addr)}
	n.loop = n.newLoop()
	w.nodes = append(w.nodes, n)
	return n
}

// LookupHost is the world's name table: it returns the address of the
// node named host (Node.Name), or a *net.DNSError with IsNotFound set
// when no node has that name. It answers at once and never blocks, so
// it can serve as the resolver of a simulated client (conn.Options's
// Resolver): programs then dial nodes by name, as they would dial hosts.
func (w *World) LookupHost(host string) ([]netip.Addr, error) {
	for _, n := range w.nodes {
		if n.Name() == host {
			return []netip.Addr{n.Addr()}, nil
		}
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// Nodes returns the nodes in the order they were added.
func (w *World) Nodes() []*Node { return w.nodes }

// Now is the world's virtual time: Epoch plus Elapsed.
func (w *World) Now() time.Time { return Epoch.Add(w.Elapsed()) }

// Elapsed is the virtual time since the world was created.
func (w *World) Elapsed() time.Duration { return w.core.Elapsed() }

// RunFor runs every node's loop for d of virtual time: operations complete
// and callbacks run in the order of their simulated times, and the clock
// jumps over idle stretches, so an hour of simulated time can take
// milliseconds. A d past the end of virtual time (math.MaxInt64) runs
// until nothing is left to happen anywhere.
func (w *World) RunFor(d time.Duration) error {
	if d < 0 {
		d = 0
	}
	return w.core.Poll(nil, int64(d))
}

// RunUntil runs the world until done returns true, checking after every
// slice of virtual time (a millisecond) and giving up after limit. It
// reports whether done became true.
func (w *World) RunUntil(limit time.Duration, done func() bool) (bool, error) {
	end := time.Duration(simcore.AddSaturatingNs(int64(w.Elapsed()), int64(limit)))
	for !done() {
		if w.Elapsed() >= end {
			return false, nil
		}
		if err := w.RunFor(min(time.Millisecond, end-w.Elapsed())); err != nil {
			return false, err
		}
	}
	return true, nil
}

// Partition cuts the network between a and b in both directions until
// Heal. Segments wait (as TCP would retransmit them) and connects time out.
func (w *World) Partition(a, b *Node) { w.core.Partition(a.core, b.core, true, 0) }

// PartitionOneWay cuts traffic from one node to another only.
func (w *World) PartitionOneWay(from, to *Node) { w.core.Partition(from.core, to.core, false, 0) }

// Heal removes the partitions between a and b, both directions.
func (w *World) Heal(a, b *Node) { w.core.Heal(a.core, b.core) }

// HealAll removes every partition.
func (w *World) HealAll() { w.core.Heal(nil, nil) }

// Rand is the world's random sequence. A test driver that takes its own
// decisions (when to crash a node, what to write) from it stays
// deterministic.
func (w *World) Rand() *Rand { return &Rand{core: w.core.Rand()} }

// Stats counts what the world has done.
type Stats struct {
	// Operations is the number of operations the loops started.
	Operations uint64
	// Events is the number of simulated events processed (arrivals,
	// timers, disk requests, faults).
	Events uint64
}

// Stats returns the world's counters.
func (w *World) Stats() Stats {
	ops, events := w.core.Stats()
	return Stats{Operations: ops, Events: events}
}

// A Node is one simulated machine with its own addresses, disk and
// program, whose Loop is served by the world.
type Node struct {
	world *World
	core  *simcore.Node
	loop  *ioloop.Loop
}

func (n *Node) newLoop() *ioloop.Loop {
	return simcore.NewLoop(n.world.core, n.core).(*ioloop.Loop)
}

// Name is the node's name, as the trace shows it.
func (n *Node) Name() string { return n.core.Name() }

// Addr is the node's IPv4 address. Other nodes connect to it; the node
// itself can also use 127.0.0.1.
func (n *Node) Addr() netip.Addr { return n.core.Addr() }

// Loop is the node's current Loop (the one Restart returned after a crash).
func (n *Node) Loop() *ioloop.Loop { return n.loop }

// Crashed reports whether the node is down.
func (n *Node) Crashed() bool { return n.core.Crashed() }

// Crash kills the node's program, as a power failure would: its Loop is
// dead (using it panics) and the callbacks of its pending operations never
// run, because the program that would receive them is gone; this is the
// one exception to "exactly one callback per operation". Its connections
// are reset (peers see ECONNRESET), and every write that no completed
// Fsync covered may be kept, lost, or torn at sector granularity. Every
// directory change (a create, rename, unlink, link, mkdir) that no Fsync
// of its directory covered may be undone, each directory keeping a prefix
// of its changes and a rename staying atomic; a file left without a
// durable name vanishes, and /dev/shm comes back empty. docs/SIMULATION.md
// has the whole model.
func (n *Node) Crash() { n.core.Crash() }

// Restart brings a crashed node back with a new Loop, on the disk the
// crash left. Start the program again on the returned Loop; do not reuse
// Completions from before the crash (they belong to the dead Loop).
func (n *Node) Restart() *ioloop.Loop {
	if !n.core.Crashed() {
		panic(fmt.Sprintf("sim: Restart of node %s, which has not crashed", n.Name()))
	}
	n.loop = n.newLoop()
	n.world.core.Trace().Note(n.world.core.NowNs(), "restart "+n.Name())
	return n.loop
}

// The node's file system seen from outside, as a test sets up and
// inspects a machine's disk beside the program: at once, with no latency,
// no faults and nothing in the trace. Paths are absolute.

// MkdirAll creates the directory at path and its missing parents, durably
// (as if each parent had been synced), and returns the errno of the step
// that failed, if any (ENOTDIR when a file is in the way).
func (n *Node) MkdirAll(path string) error {
	if errno := n.core.MkdirAll(path); errno != 0 {
		return errno
	}
	return nil
}

// WriteFile creates or replaces the file at path (and its missing parent
// directories) with a copy of data, durable as if it and its directory had
// been synced. It panics if path names a directory.
func (n *Node) WriteFile(path string, data []byte) { n.core.WriteFile(path, data) }

// ReadFile returns a copy of the file at path as a read would see it now
// (after a crash: what the crash left), and whether it exists. Symlinks
// are followed.
func (n *Node) ReadFile(path string) ([]byte, bool) { return n.core.ReadFile(path) }

// Exists reports whether path names a file, directory or symlink (a final
// symlink is not followed).
func (n *Node) Exists(path string) bool { return n.core.Exists(path) }

// OpenFDs is the number of descriptors open on the node (tests use it to
// find leaks).
func (n *Node) OpenFDs() int { return n.core.OpenFDs() }

// Rand draws deterministic random numbers from the world's sequence.
type Rand struct {
	core *simcore.Rand
}

// Intn returns a number in [0, n); n must be positive.
func (r *Rand) Intn(n int) int { return r.core.Intn(n) }

// Uint64 returns 64 random bits.
func (r *Rand) Uint64() uint64 { return r.core.Uint64() }

// Float64 returns a number in [0, 1).
func (r *Rand) Float64() float64 { return r.core.Float64() }

// Chance returns true with probability p.
func (r *Rand) Chance(p float64) bool { return r.core.Chance(p) }

// Duration returns a duration in [lo, hi].
func (r *Rand) Duration(lo, hi time.Duration) time.Duration {
	return time.Duration(r.core.Between(lo, hi))
}
