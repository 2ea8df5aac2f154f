//go:build !windows

package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/serve"
	"golang.org/x/sys/unix"
)

// signalCheckInterval bounds how long a signal waits to be noticed: the
// loop runs in slices of it and checks the signal channel in between.
const signalCheckInterval = 100 * time.Millisecond

// maxPoolBuffers is NewBufferPool's largest pool.
const maxPoolBuffers = 1 << 15

// loopEcho is `ioloop echo` on one loop: an echo server of package serve
// (serve.Echo, or serve.PooledEcho with -pool), driven from this
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
	if sig != syscall.SIGUSR1 {
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
		"ioloop echo [-addr 127.0.0.1:9000] [-server ioloop|gonet] [-loops N [-pin]] [-udp [-depth N]] [-pool N] [-backend B] [-entries N] [-bufsize N] [-stats D]", stderr)
	addrText := fs.String("addr", "127.0.0.1:9000", "address to listen on, IP:port (port 0: any free port)")
	server := newChoiceFlag(serverIOLoop, serverGoNet)
	fs.Var(server, "server", "`server` to run: ioloop (the event loop) or gonet (Go's net package, a goroutine per connection: the baseline)")
	lf := addLoopFlags(fs, "submission queue size (0: library default)")
	bufSize := fs.Int("bufsize", 4096, "receive buffer per connection (with -udp: per receive in flight; longer datagrams are echoed truncated), in bytes")
	udp := fs.Bool("udp", false, "echo UDP datagrams on -addr instead of TCP connections (ioloop server, one loop; see echo_udp.go)")
	depth := fs.Int("depth", defaultUDPDepth, "with -udp: receives in flight, each with its own buffer")
	loops := fs.Int("loops", 1, "event loops, each on its own thread with its own SO_REUSEPORT listener on -addr, the kernel spreading "+
		"connections across them (1: one loop on this goroutine, no group)")
	statsEvery := fs.Duration("stats", 0, "print the loop's counters (Loop.Stats) as a loopstats line every `interval`, such as 1s (0: never; one loop only)")
	pin := fs.Bool("pin", false, "with -loops, pin loop i's thread to the i-th CPU this process may run on (Linux only)")
	poolBuffers := fs.Int("pool", 0, "share a BufferPool of `N` buffers of -bufsize bytes among all connections, each served by one RecvMultishot, "+
		"and accept with one AcceptMultishot; with -udp, receive with one RecvFromMultishot into N buffers instead of -depth RecvFroms "+
		"(0: a -bufsize buffer per connection or per receive; ioloop server on one loop only)")
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
	if code, ok := checkLoopStatsFlag(fs, *statsEvery, *loops > 1 || *pin); !ok {
		return code
	}
	if code, ok := checkUDPFlags(fs, *udp, server.value, *depth); !ok {
		return code
	}
	if flagsSet(fs)["pool"] && (server.value == serverGoNet || *loops > 1 || *pin) {
		return usageError(fs, "-pool is for the ioloop server on one loop (not -server gonet, -loops or -pin)")
	}
	if flagsSet(fs)["pool"] && flagsSet(fs)["depth"] {
		return usageError(fs, "-udp -pool N receives with one RecvFromMultishot: -depth (RecvFroms in flight) does not apply")
	}
	if *poolBuffers < 0 || *poolBuffers > maxPoolBuffers {
		return usageError(fs, "-pool must be in 0..%d, got %d", maxPoolBuffers, *poolBuffers)
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
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
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
	case *loops > 1 || *pin:
		// -loops 1 -pin also goes through the group: pinning is the group's.
		gs, groupAddr, err := serve.StartEchoGroup(addr, *loops, lf.options(), *pin, *bufSize, stderr)
		if err != nil {
			return fail(stderr, fs.Name(), err)
		}
		srv, bound, backend = groupEcho{gs}, groupAddr, gs.Backend()
	default:
		listenFD, listenAddr, err := ioloop.ListenTCP(addr, ioloop.ListenOptions{NoDelay: true})
		if err != nil {
			return fail(stderr, fs.Name(), fmt.Errorf("listen on %s: %w", addr, err))
		}
		defer func() { _ = unix.Close(listenFD) }()
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
	if server.value == serverIOLoop {
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
