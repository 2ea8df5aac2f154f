//go:build !windows

package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
	"github.com/ioloop/ioloop/internal/benchkit/serve"
	"github.com/ioloop/ioloop/internal/cpuset"
	"golang.org/x/sys/unix"
)

// TestEchoServeClosesLiveConnections stops the server while connections
// are open, after they echoed: Loop.Close cancels their receives, and each
// connection's close path must still close its descriptor, which the
// client sees as EOF. It runs the plain server (a Recv buffer per
// connection) and the pooled one (-pool: RecvMultishot on a shared
// BufferPool, AcceptMultishot), whose pool must hold every buffer again.
func TestEchoServeClosesLiveConnections(t *testing.T) {
	requireIOURing(t)
	for _, tc := range []struct {
		name    string
		backend ioloop.Backend
		pool    int
	}{
		{"plain/io_uring", ioloop.BackendIOUring, 0},
		{"pooled/io_uring", ioloop.BackendIOUring, 8},
		{"pooled/epoll", ioloop.BackendEpoll, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listenFD, bound, err := ioloop.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ioloop.ListenOptions{NoDelay: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = unix.Close(listenFD) })
			loop, err := ioloop.New(ioloop.Options{Backend: tc.backend})
			if err != nil {
				t.Fatal(err)
			}
			var server interface {
				loopServer
				Start()
			}
			var pool *ioloop.BufferPool
			if tc.pool > 0 {
				pooled, err := serve.NewPooledEcho(loop, listenFD, tc.pool, 4096)
				if err != nil {
					t.Fatal(err)
				}
				server, pool = pooled, pooled.Pool()
			} else {
				server = serve.NewEcho(loop, listenFD, 4096)
			}
			srv := loopEcho{loop, server}
			server.Start()
			const conns, rounds, size = 16, 3, 300
			clients := dialEchoClients(t, bound, conns, 10*time.Second)
			// The clients block in their reads: the loop runs meanwhile.
			echoed := make(chan error, 1)
			go func() { echoed <- echoRoundsErr(clients, rounds, size) }()
			for deadline := time.Now().Add(10 * time.Second); ; {
				select {
				case err := <-echoed:
					if err != nil {
						t.Fatal(err)
					}
				default:
					if time.Now().After(deadline) {
						t.Fatalf("the echo rounds did not finish: %+v", srv.stats())
					}
					if err := loop.RunFor(time.Millisecond); err != nil {
						t.Fatal(err)
					}
					continue
				}
				break
			}
			if st := srv.stats(); st.Active != conns || st.Bytes != conns*rounds*size {
				t.Fatalf("stats %+v, want %d active, %d bytes", st, conns, conns*rounds*size)
			}
			if pool != nil {
				// The client can read the last reply before the server's
				// loop has run that Send's callback, which releases its
				// buffer: give it the passes it needs.
				for deadline := time.Now().Add(10 * time.Second); pool.Free() != pool.Count() && time.Now().Before(deadline); {
					if err := loop.RunFor(time.Millisecond); err != nil {
						t.Fatal(err)
					}
				}
				if pool.Free() != pool.Count() {
					t.Fatalf("pool: %d of %d buffers free with every message echoed", pool.Free(), pool.Count())
				}
			}
			serveStatsThenStop(t, srv, conns, srv.stats())
			if st := srv.stats(); st.Active != 0 {
				t.Errorf("%d connections still active after serve returned", st.Active)
			}
			for i, c := range clients {
				if n, err := c.Read(make([]byte, 1)); err == nil {
					t.Errorf("connection %d: read %d bytes after shutdown, want EOF or reset", i, n)
				}
			}
		})
	}
}

// TestGoNetEchoServer checks the baseline server of `echo -server gonet`:
// it echoes on every connection, counts like the ioloop server, prints its
// counters on SIGUSR1, and on SIGTERM closes every connection and returns.
func TestGoNetEchoServer(t *testing.T) {
	srv, err := listenGoNet(netip.MustParseAddrPort("127.0.0.1:0"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.shutdown() })
	const conns, rounds, size = 3, 5, 64
	clients := dialEchoClients(t, srv.addr, conns, 5*time.Second)
	echoRounds(t, clients, rounds, size)
	st := srv.stats()
	// A 64-byte message may arrive in pieces, each echoed on its own.
	if st.Connections != conns || st.Active != conns || st.Bytes != conns*rounds*size || st.Messages < conns*rounds {
		t.Errorf("stats %+v, want %d connections, all active, %d bytes in at least %d messages", st, conns, conns*rounds*size, conns*rounds)
	}

	serveStatsThenStop(t, srv, conns, st)
	if st := srv.stats(); st.Active != 0 {
		t.Errorf("%d connections active after shutdown", st.Active)
	}
	for i, c := range clients {
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("connection %d: read %d bytes after shutdown, want EOF or reset", i, n)
		}
	}
	if _, err := net.DialTimeout("tcp", srv.addr.String(), time.Second); err == nil {
		t.Error("the listener still accepts after shutdown")
	}
}

// TestEchoCommandAnnounces runs `ioloop echo` for both servers in a child
// process and checks the line `bench echo -server` parses, then that
// SIGTERM ends it cleanly with a summary.
func TestEchoCommandAnnounces(t *testing.T) {
	t.Setenv(cliEnv, "1")
	for _, server := range []string{serverGoNet, serverIOLoop} {
		if server == serverIOLoop {
			requireIOURing(t)
		}
		p, err := startServerProcess(server, backendFlag{}, netip.MustParseAddrPort("127.0.0.1:0"), -1, false, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer p.cleanup()
		if !p.addr.Addr().IsLoopback() || p.addr.Port() == 0 {
			t.Errorf("%s: listening on %v", server, p.addr)
		}
		wantBackend := map[string]string{serverGoNet: "netpoll", serverIOLoop: "io_uring"}[server]
		if p.backend != wantBackend {
			t.Errorf("%s: backend %q, want %q", server, p.backend, wantBackend)
		}
		c, err := net.DialTimeout("tcp", p.addr.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, 5)
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "hello" {
			t.Errorf("%s echoed %q, %v", server, got, err)
		}
		_ = c.Close()
		if err := p.stop(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(p.stdout.String(), "\nsummary connections=1 ") {
			t.Errorf("%s printed %q", server, p.stdout.String())
		}
	}
}

// TestBenchEchoServerGoNet and TestBenchEchoServerIOLoop run
// `bench echo -server` end to end, in a child process because it pins
// itself to a CPU: the server must echo, and the report must carry its CPU
// time per message. perf's second window runs in one of them only, to keep
// them short.
func TestBenchEchoServerGoNet(t *testing.T)  { testBenchEchoServer(t, serverGoNet, true) }
func TestBenchEchoServerIOLoop(t *testing.T) { testBenchEchoServer(t, serverIOLoop, false) }

func testBenchEchoServer(t *testing.T, server string, countSyscalls bool) {
	if _, err := proc.ProcessCPU(os.Getpid()); err != nil {
		t.Skipf("cannot measure a server's CPU time here: %v", err)
	}
	t.Setenv(cliEnv, "1")
	code, stdout, stderr := runCLIProcess(t, "bench", "echo", "-server", server, "-conns", "8",
		"-warmup", "50ms", "-duration", "200ms", "-syscalls="+strconv.FormatBool(countSyscalls))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r := parseReport(t, stdout)
	if r["name"] != "echo_server" || r["server"] != server || r["conns"] != "8" {
		t.Errorf("report %q", stdout)
	}
	for _, key := range []string{"msgs_per_sec", "cpu_us_per_msg", "client_cpu_us_per_msg"} {
		if v, err := strconv.ParseFloat(r[key], 64); err != nil || v <= 0 {
			t.Errorf("%s=%q, want a positive number (report %q)", key, r[key], stdout)
		}
	}
	// Pinned, when there are two CPUs to pin to, and then apart.
	if cpus, err := cpuset.Allowed(); err == nil && len(cpus) >= 2 && (r["server_cpu"] != strconv.Itoa(cpus[0]) || r["client_cpu"] != strconv.Itoa(cpus[1])) {
		t.Errorf("server_cpu=%s client_cpu=%s, want %d and %d", r["server_cpu"], r["client_cpu"], cpus[0], cpus[1])
	}
	// perf may be missing or refused; then the field must be, too.
	_, counted := r["syscalls_per_msg"]
	switch {
	case !countSyscalls && counted:
		t.Errorf("-syscalls=false, yet the report has syscalls_per_msg: %q", stdout)
	case countSyscalls && !counted && !strings.Contains(stderr, "not counting the server's system calls"):
		t.Errorf("no syscalls_per_msg and no note why: %s", stderr)
	}
}

func TestParsePinning(t *testing.T) {
	for text, want := range map[string]pinning{"none": {-1, -1}, "auto": {-1, -1}, "0,1": {0, 1}, "3,2": {3, 2}} {
		got, auto, err := parsePinning(text)
		if err != nil || got != want || auto != (text == "auto") {
			t.Errorf("parsePinning(%q) = %v, %v, %v", text, got, auto, err)
		}
	}
	for _, text := range []string{"", "1", "0,0", "-1,2", "a,b", "0,1,2", "0;1"} {
		if _, _, err := parsePinning(text); err == nil {
			t.Errorf("parsePinning(%q) accepted it", text)
		}
	}
}

func TestParseListening(t *testing.T) {
	addr, backend, err := parseListening("listening on 127.0.0.1:9000 server=ioloop backend=epoll", "server", serverIOLoop)
	if err != nil || addr != netip.MustParseAddrPort("127.0.0.1:9000") || backend != "epoll" {
		t.Errorf("got %v, %q, %v", addr, backend, err)
	}
	for _, line := range []string{
		"listening on 127.0.0.1:9000",                              // no server, no backend
		"listening on 127.0.0.1:9000 server=gonet backend=netpoll", // the other server
		"listening on localhost:9000 server=ioloop backend=epoll",  // not an address
		"ioloop echo: listen: address in use",
	} {
		if _, _, err := parseListening(line, "server", serverIOLoop); err == nil {
			t.Errorf("parseListening(%q) accepted it", line)
		}
	}
}

// TestGroupEchoServer runs `echo -loops 2` in process: the kernel spreads
// the connections over both loops' SO_REUSEPORT listeners, every loop
// echoes its own, the counters of both add up (read while the loops run,
// through posted snapshots), and shutdown closes every connection and
// leaves no descriptor behind: not the rings, not the listeners, not the
// connections.
func TestGroupEchoServer(t *testing.T) {
	// Go's netpoller keeps its own descriptors once the net package first
	// uses it: open them before counting.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		_ = ln.Close()
	}
	fdsBefore := openFDs(t)
	group, bound, err := serve.StartEchoGroup(netip.MustParseAddrPort("127.0.0.1:0"), 2, ioloop.Options{}, false, 4096, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	gs := groupEcho{group}
	t.Cleanup(func() { _ = gs.Shutdown() })
	if gs.Group().Len() != 2 {
		t.Fatalf("%d loops, want 2", gs.Group().Len())
	}
	// SO_REUSEPORT picks a listener by a hash of the connection's
	// addresses: with 32 connections, all landing on one loop has a
	// probability of 2^-31.
	const conns, rounds, size = 32, 3, 64
	clients := dialEchoClients(t, bound, conns, 10*time.Second)
	echoRounds(t, clients, rounds, size)
	perLoop := gs.LoopStats()
	for i, st := range perLoop {
		if st.Connections == 0 || st.Messages == 0 {
			t.Errorf("loop %d served %+v: the connections were not spread over the loops", i, st)
		}
	}
	st := gs.stats()
	if st.Connections != conns || st.Active != conns || st.Bytes != conns*rounds*size || st.Messages < conns*rounds {
		t.Errorf("stats %+v (per loop %+v), want %d connections, all active, %d bytes in at least %d messages",
			st, perLoop, conns, conns*rounds*size, conns*rounds)
	}

	serveStatsThenStop(t, gs, conns, st)
	if st := gs.stats(); st.Active != 0 || st.Connections != conns {
		t.Errorf("after shutdown: %+v, want %d connections, none active", st, conns)
	}
	for i, c := range clients {
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("connection %d: read %d bytes after shutdown, want EOF or reset", i, n)
		}
		_ = c.Close()
	}
	if c, err := net.DialTimeout("tcp", bound.String(), time.Second); err == nil {
		_ = c.Close()
		t.Error("the listeners still accept after shutdown")
	}
	if fdsAfter := openFDs(t); fdsAfter != fdsBefore {
		t.Errorf("%d descriptors open after shutdown, %d before", fdsAfter, fdsBefore)
	}
}

// TestGroupEchoServerStopsOnLoopFailure: when the group ends on its own
// (here: shut down behind serve's back, as a failing loop does), serve
// returns instead of waiting for a signal that may never come.
func TestGroupEchoServerStopsOnLoopFailure(t *testing.T) {
	group, _, err := serve.StartEchoGroup(netip.MustParseAddrPort("127.0.0.1:0"), 2, ioloop.Options{}, false, 4096, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	gs := groupEcho{group}
	t.Cleanup(func() { _ = gs.Shutdown() })
	gs.Group().Loop(1).Stop() // only ends one RunFor: the group runs on
	if err := gs.Group().Shutdown(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gs.serve(make(chan os.Signal), io.Discard) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after the group shut down")
	}
}

// TestEchoCommandLoops runs `ioloop echo -loops 2` as a process: it
// announces loops=2, echoes on several connections, and its summary on
// SIGTERM counts the connections of both loops.
func TestEchoCommandLoops(t *testing.T) {
	t.Setenv(cliEnv, "1")
	p, err := startServerChild(serverChild{server: serverIOLoop, listen: netip.MustParseAddrPort("127.0.0.1:0"), loops: 2, cpu: -1}, false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer p.cleanup()
	const conns = 8
	for i := range conns {
		c, err := net.DialTimeout("tcp", p.addr.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := []byte(fmt.Sprintf("hello %d", i))
		got := make([]byte, len(msg))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Errorf("connection %d echoed %q, %v", i, got, err)
		}
		_ = c.Close()
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.stdout.String(), fmt.Sprintf("\nsummary connections=%d active=0 ", conns)) {
		t.Errorf("printed %q", p.stdout.String())
	}
}

// TestBenchEchoServerLoops runs `bench echo -server ioloop -server-loops
// 2` end to end: the report names the loops and where they ran.
func TestBenchEchoServerLoops(t *testing.T) {
	if _, err := proc.ProcessCPU(os.Getpid()); err != nil {
		t.Skipf("cannot measure a server's CPU time here: %v", err)
	}
	t.Setenv(cliEnv, "1")
	code, stdout, stderr := runCLIProcess(t, "bench", "echo", "-server", serverIOLoop, "-server-loops", "2", "-conns", "8",
		"-warmup", "50ms", "-duration", "200ms", "-syscalls=false")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r := parseReport(t, stdout)
	if r["server_loops"] != "2" || r["server_cpus"] == "" {
		t.Errorf("report %q, want server_loops=2 and server_cpus", stdout)
	}
	if _, ok := r["server_cpu"]; ok {
		t.Errorf("report %q has server_cpu, which names one CPU", stdout)
	}
	if v, err := strconv.ParseFloat(r["cpu_us_per_msg"], 64); err != nil || v <= 0 {
		t.Errorf("cpu_us_per_msg=%q (report %q)", r["cpu_us_per_msg"], stdout)
	}
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}

// dialEchoClients opens conns blocking connections to addr, each with a
// deadline of timeout from now, closed when the test ends.
func dialEchoClients(t *testing.T, addr netip.AddrPort, conns int, timeout time.Duration) []net.Conn {
	t.Helper()
	clients := make([]net.Conn, conns)
	for i := range clients {
		c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	return clients
}

// echoRounds sends size bytes on every client, rounds times, and checks
// that each comes back unchanged; every message of every round differs,
// so a reply to the wrong connection or round is caught.
func echoRounds(t *testing.T, clients []net.Conn, rounds, size int) {
	t.Helper()
	if err := echoRoundsErr(clients, rounds, size); err != nil {
		t.Fatal(err)
	}
}

// echoRoundsErr is echoRounds for a goroutine other than the test's.
func echoRoundsErr(clients []net.Conn, rounds, size int) error {
	for round := range rounds {
		for i, c := range clients {
			msg := bytes.Repeat([]byte{byte(i*rounds + round)}, size)
			if _, err := c.Write(msg); err != nil {
				return err
			}
			got := make([]byte, size)
			if _, err := io.ReadFull(c, got); err != nil {
				return fmt.Errorf("connection %d, round %d: %v", i, round, err)
			}
			if !bytes.Equal(got, msg) {
				return fmt.Errorf("connection %d, round %d: echoed %x, sent %x", i, round, got, msg)
			}
		}
	}
	return nil
}

// serveStatsThenStop serves srv with a SIGUSR1 and a SIGTERM queued: the
// first must print the counters st (taken just before, with all conns
// connections open), the second must stop it cleanly.
func serveStatsThenStop(t *testing.T, srv echoService, conns int, st serve.EchoStats) {
	t.Helper()
	signals := make(chan os.Signal, 2)
	signals <- syscall.SIGUSR1
	signals <- syscall.SIGTERM
	var out strings.Builder
	if err := srv.serve(signals, &out); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("stats connections=%d active=%d messages=%d bytes=%d\n", conns, conns, st.Messages, st.Bytes); out.String() != want {
		t.Errorf("SIGUSR1 printed %q, want %q", out.String(), want)
	}
}
