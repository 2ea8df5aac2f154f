//go:build !windows

package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/serve"
	"golang.org/x/sys/unix"
)

// udpTestTimeout bounds every wait of these tests for a datagram.
const udpTestTimeout = 10 * time.Second

// kernelBackends are the backends of this OS that a test can open, each
// with its name; those the machine refuses (io_uring in some containers)
// are skipped with the reason logged.
func kernelBackends(t *testing.T) []ioloop.Backend {
	t.Helper()
	candidates := []ioloop.Backend{ioloop.BackendIOUring, ioloop.BackendEpoll}
	if runtime.GOOS != "linux" {
		candidates = []ioloop.Backend{ioloop.BackendKqueue}
	}
	var usable []ioloop.Backend
	for _, b := range candidates {
		loop, err := ioloop.New(ioloop.Options{Backend: b})
		var setupErr *ioloop.SetupError
		switch {
		case errors.As(err, &setupErr):
			t.Logf("%v unavailable: %s", b, setupErr.Reason)
			continue
		case err != nil:
			t.Fatalf("%v: %v", b, err)
		}
		if err := loop.Close(); err != nil {
			t.Fatal(err)
		}
		usable = append(usable, b)
	}
	if len(usable) == 0 {
		t.Skip("no kernel backend available")
	}
	return usable
}

// TestEchoUDPCommand runs `ioloop echo -udp` as a process on every kernel
// backend, with RecvFroms in flight (-depth 8) and with one
// RecvFromMultishot (-pool 16): it announces proto=udp and the backend
// asked for, echoes datagrams from several sockets at once back to each
// sender unchanged, and on SIGTERM exits with a summary that counts every
// one.
func TestEchoUDPCommand(t *testing.T) {
	t.Setenv(cliEnv, "1")
	for _, backend := range kernelBackends(t) {
		for _, mode := range []struct{ flag, value, announced string }{
			{"-depth", "8", " proto=udp depth=8"},
			{"-pool", "16", " proto=udp multishot=1"},
		} {
			t.Run(backend.String()+mode.flag, func(t *testing.T) {
				p, err := newChildServer("udp echo server", "echo", "-udp", "-addr", "127.0.0.1:0", "-backend", backend.String(), mode.flag, mode.value)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.launch(-1); err != nil {
					t.Fatal(err)
				}
				defer p.kill()
				line, err := p.listening()
				if err != nil {
					t.Fatal(err)
				}
				addr, gotBackend, err := parseListening(line, "server", serverIOLoop)
				if err != nil {
					t.Fatal(err)
				}
				if gotBackend != backend.String() || !strings.Contains(line, mode.announced) {
					t.Errorf("announced %q, want backend=%v%s", line, backend, mode.announced)
				}
				const clients, rounds, window = 4, 20, 4
				echoUDPClients(t, addr, clients, rounds, window)
				if err := p.terminate(); err != nil {
					t.Fatal(err)
				}
				want := fmt.Sprintf("\nsummary connections=0 active=0 messages=%d ", clients*rounds*window)
				if !strings.Contains(p.stdout.String(), want) {
					t.Errorf("printed %q, want a line starting %q", p.stdout.String(), want[1:])
				}
			})
		}
	}
}

// echoUDPClients runs clients UDP sockets against addr at once, each
// sending window datagrams per round and reading as many back before the
// next round, and checks that every datagram came back to its sender
// unchanged (the contents name client, round and index, and differ in
// length, so a reply to the wrong socket or a truncation is caught).
// Loopback does not drop datagrams at these rates; a lost one fails the
// test at udpTestTimeout.
func echoUDPClients(t *testing.T, addr netip.AddrPort, clients, rounds, window int) {
	t.Helper()
	errs := make(chan error, clients)
	for i := range clients {
		go func() { errs <- echoUDPClient(addr, i, rounds, window) }()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func echoUDPClient(addr netip.AddrPort, id, rounds, window int) error {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(udpTestTimeout)); err != nil {
		return err
	}
	got := make([]byte, 256)
	for round := range rounds {
		sent := map[string]bool{}
		for k := range window {
			msg := fmt.Sprintf("client %d round %d datagram %d %s", id, round, k, strings.Repeat("x", k))
			sent[msg] = true
			if _, err := c.Write([]byte(msg)); err != nil {
				return fmt.Errorf("client %d: %w", id, err)
			}
		}
		// Datagrams in flight together may come back in any order.
		for range window {
			n, err := c.Read(got)
			if err != nil {
				return fmt.Errorf("client %d, round %d: %w", id, round, err)
			}
			if !sent[string(got[:n])] {
				return fmt.Errorf("client %d, round %d: echoed %q, not one of the datagrams in flight", id, round, got[:n])
			}
			delete(sent, string(got[:n]))
		}
	}
	return nil
}

// TestUDPEchoZeroAllocs echoes datagrams through the server in process,
// on every kernel backend, and checks that a datagram, received, sent
// back and received again by the client, allocates nothing once the
// server runs. The client uses raw system calls on a blocking connected
// socket, which allocate nothing either, so every allocation counted
// would be the server's (or the loop's).
func TestUDPEchoZeroAllocs(t *testing.T) {
	for _, backend := range kernelBackends(t) {
		for _, multishot := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/multishot=%v", backend, multishot), func(t *testing.T) {
				fd, bound, err := ioloop.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), ioloop.UDPOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fd)
				loop, err := ioloop.New(ioloop.Options{Backend: backend})
				if err != nil {
					t.Fatal(err)
				}
				defer loop.Close()
				srv := serve.NewUDPEcho(loop, fd, 4, 2048)
				if multishot {
					if srv, err = serve.NewUDPEchoMultishot(loop, fd, 4, 2048); err != nil {
						t.Fatal(err)
					}
				}
				srv.Start()

				client := connectedUDPClient(t, bound)
				msg := bytes.Repeat([]byte{0xa5}, 64)
				got := make([]byte, 128)
				echoOne := func() {
					want := srv.Stats().Messages + 1
					if _, err := unix.Write(client, msg); err != nil {
						t.Fatal(err)
					}
					for deadline := time.Now().Add(udpTestTimeout); srv.Stats().Messages < want; {
						if time.Now().After(deadline) {
							st := loop.Stats()
							var ops strings.Builder
							_ = writeLoopStats(&ops, &st)
							t.Fatalf("no echo within %v: %+v, fatal %v; %s", udpTestTimeout, srv.Stats(), srv.Fatal(), ops.String())
						}
						if err := loop.RunFor(time.Millisecond); err != nil {
							t.Fatal(err)
						}
					}
					n, err := unix.Read(client, got)
					if err != nil || !bytes.Equal(got[:n], msg) {
						t.Fatalf("client read %x, %v; want %x", got[:n], err, msg)
					}
				}
				for range 20 { // warm up: the rare arguments, the runtime's first timers
					echoOne()
				}
				if allocs := testing.AllocsPerRun(200, echoOne); allocs != 0 {
					t.Errorf("%.2f allocations per datagram echoed, want 0", allocs)
				}
				if st := srv.Stats(); st.SendErrors != 0 || srv.Fatal() != nil {
					t.Errorf("stats %+v, fatal %v", st, srv.Fatal())
				}
			})
		}
	}
}

// connectedUDPClient opens a blocking UDP socket connected to addr (IPv4)
// with a receive timeout of udpTestTimeout, closed when the test ends.
func connectedUDPClient(t *testing.T, addr netip.AddrPort) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	tv := unix.NsecToTimeval(udpTestTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestEchoUDPFlags checks the flags -udp rejects, before anything is
// opened.
func TestEchoUDPFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-depth", "8"},                       // -depth without -udp
		{"-udp", "-depth", "0"},               // no receive in flight
		{"-udp", "-server", "gonet"},          // the ioloop server only
		{"-udp", "-loops", "2"},               // one loop
		{"-udp", "-addr", "localhost:9"},      // not IP:port
		{"-udp", "-pool", "8", "-depth", "4"}, // multishot has no depth
	} {
		code, _, stderr := runCLI(append([]string{"echo"}, args...)...)
		if code != exitUsage {
			t.Errorf("echo %v: exit %d, want %d (usage): %s", args, code, exitUsage, stderr)
		}
	}
}
