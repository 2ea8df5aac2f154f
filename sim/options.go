package sim

import (
	"time"

	"github.com/ioloop/ioloop/internal/simcore"
)

// Options configures a World. The zero value is a fault-free world with
// realistic latencies; the seed decides every random choice.
type Options struct {
	// Seed determines everything random in the world: latencies, chunking,
	// faults. The same seed and the same program give the same trace.
	Seed uint64
	// Faults are the failures injected (none by default); DefaultFaults
	// is a starting point for deterministic simulation testing.
	Faults Faults
	// Network and Disk tune the models; zero fields take the defaults
	// documented on each field.
	Network Network
	Disk    Disk
}

// Latency is a delay drawn uniformly from [Min, Max] for every event.
type Latency struct {
	Min, Max time.Duration
}

// Network tunes the simulated network.
type Network struct {
	// Latency is the one-way delay of every segment and handshake.
	// Default 20–200 µs. Segments of one connection arrive in order;
	// segments of different connections interleave as their latencies fall.
	Latency Latency
	// BufferBytes is how many bytes one direction of a connection holds
	// (sent but not yet read, the send and receive buffers together); a
	// Send waits for room beyond it. Default 256 KiB.
	BufferBytes int
	// ConnectTimeout is how long a Connect whose handshake gets no answer
	// (a partition, a crashed or absent host) keeps retrying before it
	// fails with ETIMEDOUT. Default 3 s (Linux's own is about two minutes;
	// programs usually bound it themselves with Timeout and Cancel).
	ConnectTimeout time.Duration
	// RetransmitDelay is how often a segment held back by a partition is
	// retried. Default 200 ms.
	RetransmitDelay time.Duration
}

// Disk tunes the simulated disks (one per node).
type Disk struct {
	// SectorBytes is the unit in which writes are persisted, lost or torn
	// by a crash, and in which I/O errors strike. Default 4096.
	SectorBytes int
	// Latencies of the operations. Defaults: Read 20–300 µs, Write
	// 10–100 µs, Fsync 0.5–5 ms, OpenAt/Statx/Close 5–50 µs.
	Read, Write, Fsync, Metadata Latency
}

// Faults are the failures the world injects, as probabilities (0: never,
// 1: always) or rates. Each fault that strikes is recorded in the trace.
type Faults struct {
	// PartialIO is the chance that a Recv moves fewer bytes than are
	// available, or a Send accepts fewer than it could (the loop then
	// continues it, invisibly to the program): the chunking a real network
	// shows under load.
	PartialIO float64
	// ConnectRefused is the chance that a Connect fails with ECONNREFUSED
	// although someone listens; ConnectTimeout the chance that its
	// handshake is lost and it fails with ETIMEDOUT after
	// Network.ConnectTimeout.
	ConnectRefused, ConnectTimeout float64
	// Reset is the chance, per Send or Recv that moves data, that the
	// connection is reset: that operation and every later one on either end
	// fails with ECONNRESET.
	Reset float64
	// ReadError and WriteError are the chances, per sector a disk Read or
	// Write touches, that the operation fails with EIO. StickyErrors is
	// the fraction of those errors that leave the sector bad: every later
	// read of it fails until it is rewritten. The rest are transient.
	ReadError, WriteError, StickyErrors float64
	// FsyncError is the chance that an Fsync fails with EIO. As on Linux,
	// the writes it covered are then not retried: reads still return them,
	// but a crash loses them.
	FsyncError float64
	// PartitionRate is the mean number of network partitions that start per
	// second of virtual time, each between two random nodes and lasting up
	// to PartitionMax (default 5 s); a fraction OneWay of them cut one
	// direction only. World.Partition adds partitions by hand.
	PartitionRate float64
	PartitionMax  time.Duration
	OneWay        float64
	// DatagramLoss, DatagramDuplicate and DatagramReorder are the chances,
	// per datagram sent (SendTo, SendMsg, a Send on a UDP socket), that it
	// is lost, arrives twice, or is held back by up to two extra maximal
	// latencies so that later datagrams overtake it. Partitions drop the
	// datagrams that cross them (UDP does not retransmit), and a datagram
	// that would overflow the receiving socket's queue (Network.BufferBytes)
	// is dropped, as a kernel drops it.
	DatagramLoss, DatagramDuplicate, DatagramReorder float64
}

// DefaultFaults is a starting point for simulation tests: every kind of
// fault, frequent enough that a few hundred seeds exercise each many times.
// Crashes are not among them: the test decides when a node crashes
// (Node.Crash), because only it knows how to restart the program.
func DefaultFaults() Faults {
	return Faults{
		PartialIO:      0.2,
		ConnectRefused: 0.02,
		ConnectTimeout: 0.01,
		Reset:          0.002,
		ReadError:      0.0005,
		WriteError:     0.0005,
		StickyErrors:   0.2,
		FsyncError:     0.005,
		PartitionRate:  0.2,
		PartitionMax:   2 * time.Second,
		OneWay:         0.3,
	}
}

func (o Options) core() simcore.Config {
	lat := func(l Latency) simcore.Latency { return simcore.Latency{Min: l.Min, Max: l.Max} }
	f := o.Faults
	return simcore.Config{
		Seed:            o.Seed,
		NetLatency:      lat(o.Network.Latency),
		SocketBufBytes:  o.Network.BufferBytes,
		ConnectTimeout:  o.Network.ConnectTimeout,
		RetransmitDelay: o.Network.RetransmitDelay,
		SectorBytes:     o.Disk.SectorBytes,
		ReadLatency:     lat(o.Disk.Read),
		WriteLatency:    lat(o.Disk.Write),
		FsyncLatency:    lat(o.Disk.Fsync),
		OpenLatency:     lat(o.Disk.Metadata),
		Faults: simcore.Faults{
			PartialIO: f.PartialIO, ConnectRefused: f.ConnectRefused, ConnectTimeout: f.ConnectTimeout,
			Reset: f.Reset, ReadError: f.ReadError, WriteError: f.WriteError, StickyErrors: f.StickyErrors,
			FsyncError: f.FsyncError, PartitionRate: f.PartitionRate, PartitionMax: f.PartitionMax, OneWay: f.OneWay,
			DatagramLoss: f.DatagramLoss, DatagramDuplicate: f.DatagramDuplicate, DatagramReorder: f.DatagramReorder,
		},
	}
}
