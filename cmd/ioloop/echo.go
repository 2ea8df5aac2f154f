package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/serve"
)

// signalCheckInterval bounds how long a signal waits to be noticed: the
// loop runs in slices of it and checks the signal channel in between.
const signalCheckInterval = 100 * time.Millisecond

// maxPoolBuffers is NewBufferPool's largest pool.
const maxPoolBuffers = 1 << 15

// defaultPoolBuffers is -pool's default: the ioloop server shares a pool
// of this many -bufsize buffers (4 MiB at 4 KiB) among its connections.
// A buffer is held only from an arrival until its echo is sent, so 1024
// covers as many connections with a message in flight each as `ioloop
// bench echo` opens by default; a receive that finds none waits for one.
const defaultPoolBuffers = 1024

// loopEcho is `ioloop echo` on one loop: an echo server of package serve
// (serve.PooledEcho, or serve.Echo with -pool 0), driven from this
// goroutine between signals.
type loopEcho struct {
	loop *ioloop.Loop
	srv  loopServer
}

// loopServer is what loopEcho needs of its server.
type loopServer interface {
	Fatal() error
	Stats() serve.EchoStats
}

func (s loopEcho) stats() serve.EchoStats { return s.srv.Stats() }

func (s loopEcho) shutdown() error { return s.loop.Close() }

// serve runs the loop until SIGINT or SIGTERM arrives on signals (or an
// accept error stops the server), then closes the loop.
func (s loopEcho) serve(signals <-chan os.Signal, stdout io.Writer) error {
	for s.srv.Fatal() == nil {
		if err := s.loop.RunFor(signalCheckInterval); err != nil {
			_ = s.loop.Close()
			return err
		}
		select {
		case sig := <-signals:
			if stop, err := handleSignal(sig, s, stdout); stop || err != nil {
				return errors.Join(err, s.loop.Close())
			}
		default:
		}
	}
	return errors.Join(s.srv.Fatal(), s.loop.Close())
}

// echoService is either echo server, as runEcho drives it.
type echoService interface {
	// serve runs the server until SIGINT or SIGTERM arrives on signals, or
	// it fails, and shuts it down before returning.
	serve(signals <-chan os.Signal, stdout io.Writer) error
	// shutdown stops a server whose serve was never called.
	shutdown() error
	stats() serve.EchoStats
}

// writeStats prints an echo server's counters as a `label key=value ...`
// line. Both servers count the same way (a message is one receive that
// was echoed), so a script can compare them.
func writeStats(w io.Writer, label string, st serve.EchoStats) error {
	_, err := fmt.Fprintf(w, "%s connections=%d active=%d messages=%d bytes=%d\n",
		label, st.Connections, st.Active, st.Messages, st.Bytes)
	return err
}

// handleSignal is what either server does with a signal: SIGUSR1 prints
// the counters so far, which lets a script measure a window of a long run,
// and any other signal asks it to stop.
func handleSignal(sig os.Signal, srv echoService, stdout io.Writer) (stop bool, err error) {
	if statsSignal == nil || sig != statsSignal {
		return true, nil
	}
	return false, writeStats(stdout, "stats", srv.stats())
}

// Values of `ioloop echo -server`, and of `ioloop bench echo -server`,
// which starts `ioloop echo` with it.
const (
	serverIOLoop = "ioloop"
	serverGoNet  = "gonet"
)

func runEcho(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ioloop echo",
		"ioloop echo [-addr 127.0.0.1:9000] [-server ioloop|gonet|conn] [-loops N [-pin]] [-udp [-depth N]] [-pool N] [-backend B] [-entries N] [-bufsize N] [-stats D]", stderr)
	addrText := fs.String("addr", "127.0.0.1:9000", "address to listen on, IP:port (port 0: any free port)")
	server := newChoiceFlag(serverIOLoop, serverGoNet, serverConn)
	fs.Var(server, "server", "`server` to run: ioloop (the event loop) or gonet (Go's net package, a goroutine per connection: the baseline), "+
		"or conn (the event loop through the connection layer, package conn; one loop)")
	lf := addLoopFlags(fs, "submission queue size (0: library default)")
	bufSize := fs.Int("bufsize", 4096, "receive buffer per connection (with -udp: per receive in flight; longer datagrams are echoed truncated), in bytes")
	udp := fs.Bool("udp", false, "echo UDP datagrams on -addr instead of TCP connections (ioloop server, one loop; see echo_udp.go)")
	depth := fs.Int("depth", defaultUDPDepth, "with -udp: receives in flight, each with its own buffer")
	loops := fs.Int("loops", 1, "event loops, each on its own thread with its own SO_REUSEPORT listener on -addr, the kernel spreading "+
		"connections across them (1: one loop on this goroutine, no group)")
	statsEvery := fs.Duration("stats", 0, "print the loop's counters (Loop.Stats) as a loopstats line every `interval`, such as 1s (0: never; one loop only)")
	pin := fs.Bool("pin", false, "with -loops, pin loop i's thread to the i-th CPU this process may run on (Linux only)")
	poolBuffers := fs.Int("pool", defaultPoolBuffers, "share a BufferPool of `N` buffers of -bufsize bytes among all connections, each served by one RecvMultishot, "+
		"and accept with one AcceptMultishot (with -loops, a pool per loop); with -udp, receive with one RecvFromMultishot into N buffers "+
		"(0: the plain variant, a -bufsize buffer per connection, or -depth RecvFroms with -udp; -depth alone implies -pool 0)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := lf.check(fs); !ok {
		return code
	}
	if server.value == serverGoNet {
		if code, ok := rejectFlags(fs, "-server gonet", "backend", "entries", "loops", "pin", "stats"); !ok {
			return code
		}
	}
	if server.value == serverConn {
		if code, ok := rejectFlags(fs, "-server conn", "loops", "pin", "udp"); !ok {
			return code
		}
	}
	if code, ok := checkLoopStatsFlag(fs, *statsEvery, *loops > 1 || *pin); !ok {
		return code
	}
	if code, ok := checkUDPFlags(fs, *udp, server.value, *depth); !ok {
		return code
	}
	if *poolBuffers < 0 || *poolBuffers > maxPoolBuffers {
		return usageError(fs, "-pool must be in 0..%d, got %d", maxPoolBuffers, *poolBuffers)
	}
	// The pool is the default of the ioloop server; the Go server has
	// none, and -udp -depth N asks for the plain variant's N receives.
	set := flagsSet(fs)
	switch {
	case server.value == serverGoNet && set["pool"]:
		return usageError(fs, "-pool is for the ioloop server (not -server gonet)")
	case server.value == serverGoNet:
		*poolBuffers = 0
	case set["depth"] && set["pool"] && *poolBuffers > 0:
		return usageError(fs, "-udp -pool N receives with one RecvFromMultishot: -depth (RecvFroms in flight) needs -pool 0")
	case set["depth"]:
		*poolBuffers = 0
	}
	if *pin && !flagsSet(fs)["loops"] {
		return usageError(fs, "-pin needs -loops N: it pins each loop of the group to a CPU of its own")
	}
	addr, err := netip.ParseAddrPort(*addrText)
	switch {
	case err != nil:
		return usageError(fs, "-addr must be IP:port, such as 127.0.0.1:9000 or [::1]:9000: %v", err)
	case *bufSize < 1 || *bufSize > 1<<30:
		return usageError(fs, "-bufsize must be in 1..1073741824, got %d", *bufSize)
	case *loops < 1 || *loops > maxEchoLoops:
		return usageError(fs, "-loops must be in 1..%d, got %d", maxEchoLoops, *loops)
	}
	// Each connection is a descriptor. Go raises RLIMIT_NOFILE's soft limit
	// to the hard one at startup, which is all an unprivileged server can
	// have; running out makes accept back off (see classifyAcceptError),
	// not fail.

	// Register before listening, so a signal sent as soon as the address is
	// printed is never lost to the default action.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, echoSignals...)
	defer signal.Stop(signals)

	var (
		srv     echoService
		bound   netip.AddrPort
		backend string
	)
	switch {
	case *udp:
		us, udpAddr, err := startUDPEcho(addr, lf.options(), *depth, *poolBuffers, *bufSize, *statsEvery, stdout, stderr)
		if err != nil {
			return fail(stderr, fs.Name(), err)
		}
		srv, bound, backend = us, udpAddr, us.Loop.Backend().String()
	case server.value == serverGoNet:
		gs, err := listenGoNet(addr, *bufSize)
		if err != nil {
			return fail(stderr, fs.Name(), err)
		}
		// The runtime's netpoller (epoll, kqueue) is the Go server's backend.
		srv, bound, backend = gs, gs.addr, "netpoll"
	case server.value == serverConn:
		cs, connAddr, err := startConnEcho(addr, lf.options(), *poolBuffers, *bufSize, stderr)
		if err != nil {
			return fail(stderr, fs.Name(), err)
		}
		startLoopStats(cs.loop, *statsEvery, stdout)
		srv, bound, backend = cs, connAddr, cs.loop.Backend().String()
	case *loops > 1 || *pin:
		// -loops 1 -pin also goes through the group: pinning is the group's.
		gs, groupAddr, err := serve.StartEchoGroup(addr, *loops, lf.options(), *pin, *poolBuffers, *bufSize, stderr)
		if err != nil {
			return fail(stderr, fs.Name(), err)
		}
		srv, bound, backend = groupEcho{gs}, groupAddr, gs.Backend()
	default:
		listenFD, listenAddr, err := ioloop.ListenTCP(addr, ioloop.ListenOptions{NoDelay: true})
		if err != nil {
			return fail(stderr, fs.Name(), fmt.Errorf("listen on %s: %w", addr, err))
		}
		defer func() { _ = serve.CloseFD(listenFD) }()
		loop, err := newLoop(lf.options(), stderr)
		if err != nil {
			return fail(stderr, fs.Name(), err)
		}
		var ls interface {
			loopServer
			Start()
		}
		if *poolBuffers > 0 {
			if ls, err = serve.NewPooledEcho(loop, listenFD, *poolBuffers, *bufSize); err != nil {
				return fail(stderr, fs.Name(), errors.Join(err, loop.Close()))
			}
		} else {
			ls = serve.NewEcho(loop, listenFD, *bufSize)
		}
		ls.Start()
		startLoopStats(loop, *statsEvery, stdout)
		srv, bound, backend = loopEcho{loop, ls}, listenAddr, loop.Backend().String()
	}
	// `ioloop bench echo -server` reads this line to learn the address and
	// the backend (and checks the loops); scripts wait for its "listening
	// on" prefix.
	loopsField := ""
	if server.value == serverIOLoop || server.value == serverConn {
		loopsField = fmt.Sprintf(" loops=%d", *loops)
	}
	switch {
	case *udp && *poolBuffers > 0:
		loopsField += " proto=udp multishot=1"
	case *udp:
		loopsField += fmt.Sprintf(" proto=udp depth=%d", *depth)
	}
	if *poolBuffers > 0 {
		loopsField += fmt.Sprintf(" pool=%d", *poolBuffers)
	}
	if _, err := fmt.Fprintf(stdout, "listening on %s server=%s backend=%s%s\n", bound, server.value, backend, loopsField); err != nil {
		return fail(stderr, fs.Name(), errors.Join(err, srv.shutdown()))
	}
	serveErr := srv.serve(signals, stdout)
	if err := writeStats(stdout, "summary", srv.stats()); err != nil && serveErr == nil {
		serveErr = err
	}
	if serveErr != nil {
		return fail(stderr, fs.Name(), serveErr)
	}
	return exitOK
}
