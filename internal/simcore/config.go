package simcore

import "time"

// Latency is a uniform distribution of delays in [Min, Max].
type Latency struct {
	Min, Max time.Duration
}

// Config is everything a World is built from. The public package sim
// documents each field for users; this is the internal mirror.
type Config struct {
	Seed uint64

	// Network.
	NetLatency      Latency       // one-way delay of a segment or handshake
	SocketBufBytes  int           // bytes one direction of a connection holds (send + receive buffers)
	ConnectTimeout  time.Duration // how long a connect whose SYN is lost retries
	RetransmitDelay time.Duration // how often a segment stuck behind a partition is retried

	// Disk.
	SectorBytes  int
	ReadLatency  Latency
	WriteLatency Latency
	FsyncLatency Latency
	OpenLatency  Latency // OpenAt, Close of a file, Statx

	Faults Faults
}

// Faults are probabilities (0 = never) and rates of injected failures.
type Faults struct {
	// PartialIO is the chance that a Recv or Send moves fewer bytes than
	// it could (a random, non-zero amount), as a real stack does under
	// load.
	PartialIO float64
	// ConnectRefused and ConnectTimeout are per Connect.
	ConnectRefused float64
	ConnectTimeout float64
	// Reset is the chance, per Send or Recv, that the connection is reset
	// (both ends see ECONNRESET).
	Reset float64
	// ReadError and WriteError are per sector touched by a disk read or
	// write: the operation fails with EIO. StickyErrors is the fraction of
	// those errors that leave the sector bad (every later read of it fails
	// until it is rewritten); the rest are transient.
	ReadError    float64
	WriteError   float64
	StickyErrors float64
	// FsyncError is the chance that an Fsync fails with EIO; as on Linux,
	// the dirty data it covered is then no longer retried, so a crash loses
	// it even though reads still return it.
	FsyncError float64
	// PartitionRate is the mean number of partitions that start per second
	// of virtual time between two random nodes; each lasts a random time up
	// to PartitionMax. OneWay is the fraction that cut one direction only.
	PartitionRate float64
	PartitionMax  time.Duration
	OneWay        float64
	// DatagramLoss, DatagramDuplicate and DatagramReorder are per datagram
	// sent (datagram.go): it is lost, arrives twice, or is held back so
	// that later ones overtake it.
	DatagramLoss      float64
	DatagramDuplicate float64
	DatagramReorder   float64
}

// withDefaults fills the zero fields of c with realistic values.
func (c Config) withDefaults() Config {
	def := func(l *Latency, min, max time.Duration) {
		if l.Min == 0 && l.Max == 0 {
			l.Min, l.Max = min, max
		}
		if l.Max < l.Min {
			l.Max = l.Min
		}
	}
	def(&c.NetLatency, 20*time.Microsecond, 200*time.Microsecond)
	def(&c.ReadLatency, 20*time.Microsecond, 300*time.Microsecond)
	def(&c.WriteLatency, 10*time.Microsecond, 100*time.Microsecond)
	def(&c.FsyncLatency, 500*time.Microsecond, 5*time.Millisecond)
	def(&c.OpenLatency, 5*time.Microsecond, 50*time.Microsecond)
	if c.SocketBufBytes <= 0 {
		c.SocketBufBytes = 256 << 10
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 3 * time.Second
	}
	if c.RetransmitDelay <= 0 {
		c.RetransmitDelay = 200 * time.Millisecond
	}
	if c.SectorBytes <= 0 {
		c.SectorBytes = 4096
	}
	if c.Faults.PartitionMax <= 0 {
		c.Faults.PartitionMax = 5 * time.Second
	}
	return c
}
