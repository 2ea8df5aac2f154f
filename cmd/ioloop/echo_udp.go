package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/serve"
)

// `ioloop echo -udp`: the UDP echo server of package serve (UDPEcho) on
// one loop, which sends every datagram back to where it came from with
// the library's datagram operations, RecvFrom and SendTo.

// defaultUDPDepth is -depth's default: receives in flight. 64 keeps a
// slot free for every datagram that a few dozen clients with a small
// window each have in flight, so none waits in the socket's queue for a
// receive to be submitted.
const defaultUDPDepth = 64

// maxUDPDepth bounds -depth: each receive is a Completion and a buffer.
const maxUDPDepth = 1 << 16

// udpReceiveBufferBytes is the server socket's SO_RCVBUF: datagrams that
// arrive while every slot is busy wait there, and beyond it the kernel
// drops them. Linux caps it at net.core.rmem_max (and doubles it for its
// bookkeeping).
const udpReceiveBufferBytes = 4 << 20

// checkUDPFlags rejects what does not apply to -udp, and -depth without
// it.
func checkUDPFlags(fs *flag.FlagSet, udp bool, serverName string, depth int) (code int, ok bool) {
	if !udp {
		return rejectFlags(fs, "the TCP server (without -udp)", "depth")
	}
	if serverName != serverIOLoop {
		return usageError(fs, "-udp runs the ioloop server only, not -server %s", serverName), false
	}
	if code, ok := rejectFlags(fs, "-udp", "loops", "pin"); !ok {
		return code, false
	}
	if depth < 1 || depth > maxUDPDepth {
		return usageError(fs, "-depth must be in 1..%d, got %d", maxUDPDepth, depth), false
	}
	return exitOK, true
}

// udpEcho is `ioloop echo -udp`: the loop's UDP echo server and its
// socket, driven from this goroutine between signals.
type udpEcho struct {
	*serve.UDPEcho
	stderr io.Writer
}

// startUDPEcho binds a UDP socket to addr, starts the echo server on a
// new loop with depth receives of bufSize bytes in flight (or, with
// poolBuffers > 0, one RecvFromMultishot into a pool of that many), and
// returns it with the address it is bound to.
func startUDPEcho(addr netip.AddrPort, opts ioloop.Options, depth, poolBuffers, bufSize int, statsEvery time.Duration, stdout, stderr io.Writer) (udpEcho, netip.AddrPort, error) {
	fd, bound, err := ioloop.ListenUDP(addr, ioloop.UDPOptions{ReceiveBufferBytes: udpReceiveBufferBytes})
	if err != nil {
		return udpEcho{}, bound, fmt.Errorf("listen on udp %s: %w", addr, err)
	}
	loop, err := newLoop(opts, stderr)
	if err != nil {
		_ = serve.CloseFD(fd)
		return udpEcho{}, bound, err
	}
	srv := serve.NewUDPEcho(loop, fd, depth, bufSize)
	if poolBuffers > 0 {
		if srv, err = serve.NewUDPEchoMultishot(loop, fd, poolBuffers, bufSize); err != nil {
			_ = loop.Close()
			_ = serve.CloseFD(fd)
			return udpEcho{}, bound, err
		}
	}
	s := udpEcho{srv, stderr}
	s.Start()
	startLoopStats(loop, statsEvery, stdout)
	return s, bound, nil
}

// stats maps the server's counters onto the echo servers' line: UDP has
// no connections, so those are 0, and a message is one datagram echoed.
func (s udpEcho) stats() serve.EchoStats {
	st := s.Stats()
	return serve.EchoStats{Messages: st.Messages, Bytes: st.Bytes}
}

// shutdown closes the loop, which cancels every receive, then the socket.
func (s udpEcho) shutdown() error {
	err := s.Loop.Close()
	// A '#' line, which scripts skip: dropped echoes are what UDP does
	// under overload (see serve.UDPEchoStats), not failures.
	st := s.Stats()
	if st.SendErrors > 0 {
		fmt.Fprintf(s.stderr, "# udp: %d echoes not sent (last: %v)\n", st.SendErrors, st.LastSendError)
	}
	return errors.Join(err, serve.CloseFD(s.FD))
}

// serve runs the loop until SIGINT or SIGTERM arrives on signals (or a
// receive error stops the server), then shuts down.
func (s udpEcho) serve(signals <-chan os.Signal, stdout io.Writer) error {
	for s.Fatal() == nil {
		if err := s.Loop.RunFor(signalCheckInterval); err != nil {
			return errors.Join(err, s.shutdown())
		}
		select {
		case sig := <-signals:
			if stop, err := handleSignal(sig, s, stdout); stop || err != nil {
				return errors.Join(err, s.shutdown())
			}
		default:
		}
	}
	return errors.Join(fmt.Errorf("receive: %w", s.Fatal()), s.shutdown())
}
