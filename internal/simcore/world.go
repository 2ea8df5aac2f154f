// Package simcore is the deterministic simulator behind package sim: a
// world of nodes with virtual time, a network and a disk per node, and
// seeded faults. It knows nothing of ioloop's Completion: the root package
// adapts its loop to it (backend_sim.go) through Request and Host, and
// package sim exposes it to users. Everything runs on the goroutine that
// drives the world; nothing here is safe for concurrent use, by design.
package simcore

import (
	"errors"
	"math"
	"net/netip"
	"time"
)

// ErrDeadlock is returned by Poll when a loop waits without a time limit
// and nothing in the world can ever happen again.
var ErrDeadlock = errors.New("sim: deadlock: the loop waits for completions and no event is pending anywhere in the world")

// Kind is an operation the simulator serves.
type Kind uint8

// The operations, mirroring the loop's.
const (
	KindNone Kind = iota
	KindNop
	KindTimeout
	KindAccept
	KindConnect
	KindRecv
	KindSend
	KindRead
	KindWrite
	KindReadv
	KindWritev
	KindFsync
	KindClose
	KindOpenAt
	KindStatx
	KindShutdown
	KindFallocate
	KindFtruncate
	KindRenameat
	KindUnlinkat
	KindMkdirat
	KindLinkat
	KindSymlinkat
	KindFadvise
	KindSyncFileRange
	KindSendMsg // SendTo, SendMsg: Buf or Bufs, to Addr (invalid: the connected peer)
	KindRecvMsg // RecvFrom, RecvMsg: Buf or Bufs; the sender goes to Host.FillMessage
	kindCount
)

var kindNames = [kindCount]string{"none", "Nop", "Timeout", "Accept", "Connect", "Recv", "Send",
	"Read", "Write", "Readv", "Writev", "Fsync", "Close", "OpenAt", "Statx", "Shutdown",
	"Fallocate", "Ftruncate", "Renameat", "Unlinkat", "Mkdirat", "Linkat", "Symlinkat", "Fadvise", "SyncFileRange",
	"SendMsg", "RecvMsg"}

// String names the kind in traces.
func (k Kind) String() string {
	if k < kindCount {
		return kindNames[k]
	}
	return "invalid"
}

// Open flags as the simulator understands them (the adapter translates the
// OS's O_* bits, which differ between systems).
const (
	OpenRead uint32 = 1 << iota
	OpenWrite
	OpenCreate
	OpenExclusive
	OpenTruncate
	OpenAppend
	OpenDirectory // O_DIRECTORY: fail unless path is a directory
	OpenNoFollow  // O_NOFOLLOW: a final symlink fails with ELOOP
)

// AtCWD is the dirfd of a path relative to the working directory (the
// adapter translates unix.AT_FDCWD to it).
const AtCWD = -100

// Shutdown directions.
const (
	ShutRead  = 1
	ShutWrite = 2
)

// Request describes an operation handed to the simulator. The simulator
// copies it and keeps the buffers referenced until it completes.
type Request struct {
	Token     uint64
	Kind      Kind
	FD        int
	Buf       []byte
	Bufs      [][]byte
	Offset    int64
	Flags     uint32 // Open*, Shut*, FsyncData, Write*Sync, Rename*, UnlinkRemoveDir, LinkFollow, Stat*; advice; sync_file_range flags
	Mode      uint32 // OpenAt, Mkdirat: permission bits; Fallocate: the FALLOC_FL_* mode
	Path      []byte // OpenAt, Statx, Unlinkat, Mkdirat; the old path of Renameat and Linkat; Symlinkat's target. Without a terminating NUL
	FD2       int    // Renameat, Linkat, Symlinkat: the directory of Path2
	Path2     []byte // Renameat, Linkat: the new path; Symlinkat: the link
	Length    int64  // Fallocate, Ftruncate, Fadvise, SyncFileRange
	Addr      netip.AddrPort
	TimeoutNs int64
}

// FsyncData marks an Fsync that is an fdatasync (the simulator treats both
// alike: it has no metadata apart from the size, which both flush).
const FsyncData uint32 = 1

// Durable writes: a Write or Writev with one of these flags is durable
// (RWF_DSYNC, RWF_SYNC) when it completes. Like FsyncData, the two differ
// only in name: the simulator's only file metadata is the size.
const (
	WriteDataSync uint32 = 1
	WriteFileSync uint32 = 2
)

// Flags of the namespace operations, as the simulator understands them
// (the adapter translates the OS's AT_* bits, which differ between
// systems; the rename flags are Linux's).
const (
	RenameNoReplace uint32 = 1 // renameat2's RENAME_NOREPLACE
	RenameExchange  uint32 = 2 // RENAME_EXCHANGE
	UnlinkRemoveDir uint32 = 1 // AT_REMOVEDIR
	LinkFollow      uint32 = 1 // AT_SYMLINK_FOLLOW
)

// Fallocate modes, Linux's FALLOC_FL_* values (the simulator serves
// Linux's semantics on every host).
const (
	FallocKeepSize  uint32 = 0x01
	FallocPunchHole uint32 = 0x02
	FallocZeroRange uint32 = 0x10
)

// Sync file range flags (SYNC_FILE_RANGE_*), Linux's values.
const syncFileRangeValid = 1 | 2 | 4

// The highest valid posix_fadvise advice (POSIX_FADV_NOREUSE): 0 to 5.
const fadviseMax = 5

// Stat is what Statx reports.
type Stat struct {
	SizeBytes   int64
	Mode        uint32
	Blocks      int64 // 512-byte blocks, as st_blocks
	BlockBytes  uint32
	Nlink       uint32
	Ino         uint64
	IsDirectory bool
}

// Host is the loop side of a node: the simulator reports results to it and
// asks it to run its ready callbacks while another loop is waiting.
type Host interface {
	// Complete reports an operation's raw result: a count, a descriptor,
	// or a negated errno.
	Complete(token uint64, res int32)
	// FillStat hands a Statx result over before Complete.
	FillStat(token uint64, st *Stat)
	// FillMessage hands a datagram receive's sender and flags (MsgTrunc)
	// over before Complete.
	FillMessage(token uint64, from netip.AddrPort, flags uint32)
	// Ready reports whether callbacks are waiting to run.
	Ready() bool
	// RunReady runs the waiting callbacks and starts what they submit.
	RunReady()
}

// World is a simulated network of nodes sharing one virtual clock, one
// event queue and one random sequence.
type World struct {
	cfg    Config
	rand   Rand
	nowNs  int64
	seq    uint64
	events eventHeap
	nodes  []*Node
	trace  Trace
	net    network

	opsStarted uint64
	eventsRun  uint64
}

// NewWorld builds an empty world from cfg.
func NewWorld(cfg Config) *World {
	w := &World{cfg: cfg.withDefaults()}
	w.rand.Seed(cfg.Seed)
	w.trace.init()
	w.net.init(w)
	return w
}

// Config returns the world's configuration, defaults filled in.
func (w *World) Config() Config { return w.cfg }

// Rand is the world's random sequence; a test driver that draws from it
// stays deterministic.
func (w *World) Rand() *Rand { return &w.rand }

// NowNs is the virtual time since the world began.
func (w *World) NowNs() int64 { return w.nowNs }

// Trace is the world's record of events.
func (w *World) Trace() *Trace { return &w.trace }

// Stats reports how many operations were started and events processed.
func (w *World) Stats() (opsStarted, eventsRun uint64) { return w.opsStarted, w.eventsRun }

// Nodes returns the nodes in creation order.
func (w *World) Nodes() []*Node { return w.nodes }

// NewNode adds a node with the given name and IPv4 address.
func (w *World) NewNode(name string, addr netip.Addr) *Node {
	for _, n := range w.nodes {
		if n.addr == addr {
			panic("sim: two nodes with the address " + addr.String())
		}
		if n.name == name {
			panic("sim: two nodes named " + name)
		}
	}
	n := &Node{world: w, id: len(w.nodes), name: name, addr: addr}
	n.reset()
	n.fs.init(w.cfg.SectorBytes)
	w.nodes = append(w.nodes, n)
	if len(w.nodes) == 2 {
		w.net.schedulePartitions()
	}
	w.trace.note(w.nowNs, n, "node", addr.String())
	return n
}

// schedule queues an event at atNs (never before now).
func (w *World) schedule(ev event) {
	if ev.atNs < w.nowNs {
		ev.atNs = w.nowNs
	}
	w.seq++
	ev.seq = w.seq
	w.events.push(ev)
}

// PassCostNs is the virtual time a non-blocking loop pass takes.
const PassCostNs = int64(time.Microsecond)

// Poll advances the world on behalf of caller's loop (nil: the driver) for
// at most timeoutNs of virtual time (0: only what is due now; negative:
// until caller has a result; so large that the deadline saturates: the
// same, and nil for the driver once nothing is left to happen). It returns
// as soon as caller has callbacks to run. While it waits, the other nodes'
// callbacks run, so a single loop's RunFor moves the whole world.
func (w *World) Poll(caller *Node, timeoutNs int64) error {
	deadlineNs := AddSaturatingNs(w.nowNs, timeoutNs)
	if timeoutNs == 0 {
		// A pass that must not wait (Tick, or RunFor with callbacks ready)
		// still takes time on a real machine. Charging it keeps a busy loop
		// from freezing the clock: its timers fire, and its RunFor returns.
		deadlineNs = AddSaturatingNs(deadlineNs, PassCostNs)
	}
	// A deadline saturated at the end of time is never reached: the wait
	// has no limit, and ends in ErrDeadlock (nil for the driver) once
	// nothing is left to happen, instead of jumping the clock there.
	forever := timeoutNs < 0 || deadlineNs == math.MaxInt64
	for {
		w.runOthers(caller)
		if timeoutNs != 0 && caller != nil && caller.host != nil && caller.host.Ready() {
			return nil // a non-blocking pass takes its whole PassCostNs instead
		}
		if w.events.len() == 0 || (!forever && w.events.peek().atNs > deadlineNs) {
			if forever && caller == nil && timeoutNs > 0 {
				return nil // the driver's RunFor: everything that can happen has
			}
			if forever {
				return ErrDeadlock
			}
			if deadlineNs > w.nowNs {
				w.nowNs = deadlineNs
			}
			return nil
		}
		ev := w.events.pop()
		if ev.atNs > w.nowNs {
			w.nowNs = ev.atNs
		}
		w.eventsRun++
		w.apply(&ev)
	}
}

// runOthers gives every node but caller one pass over its ready callbacks,
// in node order.
func (w *World) runOthers(caller *Node) {
	for _, n := range w.nodes {
		if n != caller && n.host != nil && n.host.Ready() {
			n.host.RunReady()
		}
	}
}

func (w *World) apply(ev *event) {
	switch ev.kind {
	case evComplete:
		if n := ev.node; n.current(ev) {
			n.deliver(ev.slot, ev.res)
		}
	case evDisk:
		if n := ev.node; n.current(ev) {
			n.runDisk(ev.slot)
		}
	case evSyn:
		if n := ev.node; n.current(ev) {
			w.net.arriveSyn(n, ev.slot)
		}
	case evConnected:
		if n := ev.node; n.current(ev) {
			w.net.finishConnect(n, ev.slot, ev.res)
		}
	case evSegment:
		w.net.arriveSegment(ev)
	case evPartition:
		w.net.partitionEvent(ev)
	case evDatagram:
		w.net.arriveDatagram(ev)
	default:
		panic("simcore: internal error: unknown event kind")
	}
}

// Elapsed is the virtual time since the world began as a Duration.
func (w *World) Elapsed() time.Duration { return time.Duration(w.nowNs) }

// Epoch is the wall-clock time a world starts at: a fixed date, so that a
// simulation's output does not depend on when it ran.
var Epoch = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// NewLoop is set by package ioloop to build a Loop (returned as any, to
// avoid an import cycle) whose operations this simulator serves.
var NewLoop func(w *World, n *Node) any
