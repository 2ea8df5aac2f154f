package conn

import (
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
)

// Options configures a Listener's connections or a dialed Conn. The zero
// value gives a plain connection: a 4 KiB input buffer of its own, no
// timeouts, TCP_NODELAY set (as Go's net package does), the system's
// defaults for the other socket options, and limits of 1 MiB of
// unconsumed input and 4 MiB of queued output.
type Options struct {
	// Pool, if set, makes connections receive through it (ioloop
	// RecvMultishot): a buffer is taken from the pool only when data
	// arrives and given back once OnData returns, so an idle connection
	// holds no input buffer. Input left unconsumed (an incomplete frame)
	// is copied into a buffer of the connection's own, which grows up to
	// MaxInputBytes. The pool must belong to the Listener's or Dial's
	// loop. Nil: each connection receives into a buffer of its own of
	// ReadBufferBytes (ioloop Recv).
	Pool *ioloop.BufferPool

	// ReadBufferBytes is the size of a connection's own input buffer when
	// Pool is nil, and the least it grows by. Default 4096.
	ReadBufferBytes int

	// MaxInputBytes bounds the unconsumed input a connection may buffer
	// (the largest frame a handler can wait for). A connection that
	// reaches it is closed with ErrInputTooLarge. Default 1 MiB.
	MaxInputBytes int

	// MaxQueuedBytes bounds a connection's write queue: a Write that
	// would take it past the bound returns ErrWriteQueueFull and queues
	// nothing. Default 4 MiB.
	MaxQueuedBytes int

	// FullDuplex keeps receiving while the replies an OnData wrote are
	// being sent. By default (false) a connection with its own buffer
	// (Pool nil) receives again once the send of what the last OnData
	// wrote has completed, as a request-response server on net.Conn
	// does (read, write, read): a client that pipelines requests without
	// reading the replies is slowed down by TCP instead of growing the
	// write queue, and on echo-like traffic the next receive more often
	// finds its data already there (measured in docs/ARCHITECTURE.md,
	// "Writing a server"). Set it for protocols whose peers may send a
	// lot without reading what they are sent (a proxy, an upload answered
	// early with a large body): then a reply that cannot be sent does
	// not stop input. Writes made outside OnData never hold receiving
	// back, and with a Pool the receive stays armed whatever this says.
	FullDuplex bool

	// ReadTimeout bounds how long incomplete input may wait to be
	// completed: it starts when OnData returns leaving input unconsumed
	// (a frame has begun) and stops when the handler has consumed all of
	// it. It protects against peers that send part of a request and
	// stall. Past it the connection closes gracefully with
	// ErrReadTimeout. 0: none.
	ReadTimeout time.Duration

	// WriteTimeout bounds how long queued output may take to be sent: it
	// starts when the write queue stops being empty and stops when it is
	// empty again. Past it the connection is aborted with ErrWriteTimeout
	// (a peer that does not read would never take a flush). 0: none.
	WriteTimeout time.Duration

	// IdleTimeout closes a connection gracefully, with ErrIdleTimeout,
	// when it has neither received nor sent anything for that long. 0:
	// none.
	IdleTimeout time.Duration

	// DialTimeout bounds Dial, from the call (resolution included) to the
	// connection; past it OnClose gets an *OpError wrapping
	// ErrDialTimeout. 0: none beyond the kernel's own connect timeout.
	DialTimeout time.Duration

	// DrainTimeout bounds a graceful close (Close, a peer's end of
	// stream, an idle or read timeout): flushing the write queue, and
	// then waiting for the peer's end of stream after shutdown(SHUT_WR),
	// discarding what it still sends. Past it the connection is closed
	// anyway. Default 5 s.
	DrainTimeout time.Duration

	// DrainBytes bounds how much input a graceful close discards while it
	// waits for the peer's end of stream; past it the connection is
	// closed at once. Default 64 KiB.
	DrainBytes int

	// NoDelay sets TCP_NODELAY: nil or true sets it (small writes go out
	// at once, as with Go's net package), false clears it (Nagle's
	// algorithm). Ignored on unix sockets and on the simulator.
	NoDelay *bool

	// KeepAlive configures TCP keepalive probes. The zero value leaves the
	// system's default (off on Linux).
	KeepAlive KeepAlive

	// SendBufferBytes and RecvBufferBytes set SO_SNDBUF and SO_RCVBUF
	// when positive. 0 leaves the system's default (and its autotuning).
	SendBufferBytes, RecvBufferBytes int

	// Linger sets SO_LINGER. 0 leaves the system's default (close returns
	// at once and the kernel sends what is left in the background);
	// positive makes close wait up to Linger (rounded up to a second) for
	// the kernel to send it; negative makes close reset the connection
	// (RST) and discard unsent data.
	Linger time.Duration

	// Backlog is a Listener's listen(2) backlog; 0 means the system's
	// maximum (SOMAXCONN).
	Backlog int

	// ReusePort lets several Listeners (one per loop of an ioloop.Group,
	// say) listen on the same TCP address, the kernel spreading the
	// connections across them: SO_REUSEPORT (SO_REUSEPORT_LB on
	// FreeBSD), as ioloop.ListenOptions.ReusePort. Ignored by Dial and on
	// the simulator.
	ReusePort bool

	// Resolver resolves the host names Dial is given. On the kernel
	// backends it runs on a goroutine of its own, so it may block, and
	// its answer is handed back to the loop with ioloop.Post; nil uses
	// net.DefaultResolver. On the simulator it runs on the loop's
	// goroutine (a goroutine would make runs depend on the scheduler), so
	// it must not block: pass sim.World.LookupHost, which answers from the
	// world's node names; nil there accepts only IP addresses and
	// "localhost". "localhost" and IP literals never reach a Resolver.
	Resolver func(host string) ([]netip.Addr, error)
}

// KeepAlive configures TCP keepalive (SO_KEEPALIVE, TCP_KEEPIDLE,
// TCP_KEEPINTVL, TCP_KEEPCNT). The zero value leaves the system's default.
// Ignored on unix sockets and on the simulator.
type KeepAlive struct {
	// Enable turns keepalive probes on; the other fields apply only then.
	Enable bool
	// Idle is how long a connection is idle before the first probe
	// (rounded up to a second). 0: the system's default (2 hours on
	// Linux).
	Idle time.Duration
	// Interval is the time between probes (rounded up to a second). 0:
	// the system's default.
	Interval time.Duration
	// Count is how many unanswered probes end the connection. 0: the
	// system's default.
	Count int
}

// Defaults of the Options fields whose zero value means "default".
const (
	// DefaultReadBufferBytes is Options.ReadBufferBytes's default.
	DefaultReadBufferBytes = 4096
	// DefaultMaxInputBytes is Options.MaxInputBytes's default.
	DefaultMaxInputBytes = 1 << 20
	// DefaultMaxQueuedBytes is Options.MaxQueuedBytes's default.
	DefaultMaxQueuedBytes = 4 << 20
	// DefaultDrainTimeout is Options.DrainTimeout's default.
	DefaultDrainTimeout = 5 * time.Second
	// DefaultDrainBytes is Options.DrainBytes's default.
	DefaultDrainBytes = 64 << 10
)

// settings are Options resolved, shared by the connections of a Listener.
type settings struct {
	opts            Options
	readBufferBytes int
	maxInputBytes   int
	maxQueuedBytes  int
	drainTimeoutNs  int64
	drainBytes      int
	noDelay         bool
}

func newSettings(opts Options) *settings {
	s := &settings{opts: opts, readBufferBytes: opts.ReadBufferBytes, maxInputBytes: opts.MaxInputBytes,
		maxQueuedBytes: opts.MaxQueuedBytes, drainTimeoutNs: int64(opts.DrainTimeout), drainBytes: opts.DrainBytes,
		noDelay: opts.NoDelay == nil || *opts.NoDelay}
	if s.readBufferBytes <= 0 {
		s.readBufferBytes = DefaultReadBufferBytes
	}
	if s.maxInputBytes <= 0 {
		s.maxInputBytes = DefaultMaxInputBytes
	}
	if s.maxInputBytes < s.readBufferBytes {
		s.readBufferBytes = s.maxInputBytes
	}
	if s.maxQueuedBytes <= 0 {
		s.maxQueuedBytes = DefaultMaxQueuedBytes
	}
	if s.drainTimeoutNs <= 0 {
		s.drainTimeoutNs = int64(DefaultDrainTimeout)
	}
	if s.drainBytes <= 0 {
		s.drainBytes = DefaultDrainBytes
	}
	return s
}

// seconds rounds d up to whole seconds (0 stays 0), for the socket
// options that take seconds.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// sendVectored sends iov in one call: SendMsg on the kernel backends
// (sendmsg(2) with MSG_NOSIGNAL, so a gone peer is EPIPE, never SIGPIPE;
// on IOCP one WSASend of several buffers), Writev on the simulator, which
// runs SendMsg on datagram sockets only.
func sendVectored(c *Conn, iov [][]byte) {
	if c.loop.Backend() == ioloop.BackendSimulator {
		ioloop.Writev(c.loop, &c.sendOp, c.fd, iov, -1, c, (*Conn).onSent)
		return
	}
	ioloop.SendMsg(c.loop, &c.sendOp, c.fd, iov, nil, netip.AddrPort{}, c, (*Conn).onSent)
}

// closeNow closes fd outside the loop (closeDescriptor), for a descriptor
// whose Close operation never ran because the loop was closing. A
// simulated loop's descriptors are not the kernel's: they stay with the
// simulated node.
func closeNow(loop *ioloop.Loop, fd int) {
	if loop.Backend() != ioloop.BackendSimulator {
		closeDescriptor(fd)
	}
}
