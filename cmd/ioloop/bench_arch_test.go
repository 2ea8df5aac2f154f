//go:build !windows

package main

import (
	"io"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
)

// TestArchServersAnswer runs every architecture in-process for a fraction
// of a second under the uneven distribution, with the client checking that
// each reply answers its own request (id, work, connection), and checks
// that both sides counted the same traffic.
func TestArchServersAnswer(t *testing.T) {
	spinPerNs := calibrateSpin()
	if spinPerNs <= 0 {
		t.Fatalf("calibrated %v busy-loop rounds per ns", spinPerNs)
	}
	for _, arch := range []string{archPerCore, archPool, archSingle} {
		t.Run(arch, func(t *testing.T) {
			cfg := archServerConfig{arch: arch, loops: 2, workers: 2, maxConns: 64, spinPerNs: spinPerNs}
			srv, err := startArchServer(cfg, netip.MustParseAddrPort("127.0.0.1:0"))
			if err != nil {
				t.Fatal(err)
			}
			const conns = 8
			res, clientErr := runArchClient(ioloop.Options{}, srv.addr, conns, 5*time.Microsecond, distUneven,
				20*time.Millisecond, 100*time.Millisecond, nil, io.Discard)
			st, serverErr := srv.shutdown()
			if clientErr != nil || serverErr != nil {
				t.Fatalf("client: %v; server: %v", clientErr, serverErr)
			}
			if res.requests < unevenEvery {
				t.Fatalf("%d requests in 100ms", res.requests)
			}
			// The server also saw the warm-up and the requests in flight at
			// the end, which the client did not count.
			if st.requests < res.requests || st.postDropped != 0 || st.rejected != 0 {
				t.Errorf("server %+v, client counted %d requests", st, res.requests)
			}
			// Every unevenEvery-th request issued is heavy. Which of the
			// conns requests in flight at either end of the window were
			// counted depends on their cost, hence the tolerance.
			if heavy := res.requests - res.lightRequests; heavy < res.requests/unevenEvery-conns || heavy > res.requests/unevenEvery+conns {
				t.Errorf("%d of %d requests were heavy, want 1 in %d", heavy, res.requests, unevenEvery)
			}
			if res.light <= 0 || res.p99 < res.p50 {
				t.Errorf("latencies p50=%v p99=%v light p99=%v", res.p50, res.p99, res.light)
			}
		})
	}
}

func TestCheckReply(t *testing.T) {
	var req [archRequestSize]byte
	var reply [archReplySize]byte
	for i := range req {
		req[i] = byte(i + 1)
	}
	copy(reply[:], req[:])
	if err := checkReply(&req, &reply); err != nil {
		t.Errorf("a matching reply: %v", err)
	}
	reply[3]++ // another request's id
	if err := checkReply(&req, &reply); err == nil {
		t.Error("a reply to another request passed")
	}
}

func TestSpinIsDeterministic(t *testing.T) {
	if spin(1000, 7) != spin(1000, 7) || spin(1000, 7) == spin(1000, 8) || spin(0, 7) != 7 {
		t.Error("spin is not a deterministic function of its rounds and seed")
	}
}

// TestBenchArchCommand runs `bench arch` end to end, with its servers in
// child processes, on the smallest matrix that has every architecture and
// both distributions.
func TestBenchArchCommand(t *testing.T) {
	t.Setenv(cliEnv, "1")
	code, stdout, stderr := runCLIProcess(t, "bench", "arch", "-work", "10us", "-reps", "1", "-conns", "4",
		"-warmup", "20ms", "-duration", "100ms", "-markdown")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	runs, medians := 0, 0
	for line := range strings.Lines(stdout) {
		if !strings.HasPrefix(line, "name=") {
			continue
		}
		r := parseReport(t, line)
		switch r["name"] {
		case "arch_run":
			runs++
		case "arch":
			medians++
		}
		if v, err := strconv.ParseFloat(r["reqs_per_sec"], 64); err != nil || v <= 0 {
			t.Errorf("reqs_per_sec=%q in %q", r["reqs_per_sec"], line)
		}
	}
	// 3 architectures × 2 distributions, once each, then their medians.
	if runs != 6 || medians != 6 || !strings.Contains(stdout, "| 10µs | uneven | pool |") {
		t.Errorf("%d runs and %d median lines, want 6 and 6; output:\n%s", runs, medians, stdout)
	}
}

// TestArchSteadyStateDoesNotAllocate is the zero-allocation promise for
// the request path of every architecture, the pool's hand-offs (channel,
// Post) included: once connections exist, requests cost no allocation in
// the whole process, server loops, workers and client together.
func TestArchSteadyStateDoesNotAllocate(t *testing.T) {
	for _, arch := range []string{archPerCore, archPool} {
		t.Run(arch, func(t *testing.T) {
			cfg := archServerConfig{arch: arch, loops: 2, workers: 2, maxConns: 64, spinPerNs: 0.1}
			srv, err := startArchServer(cfg, netip.MustParseAddrPort("127.0.0.1:0"))
			if err != nil {
				t.Fatal(err)
			}
			loop, err := ioloop.New(ioloop.Options{})
			if err != nil {
				t.Fatal(err)
			}
			cl := newArchClient(loop, srv.addr, 8, time.Microsecond, distUneven)
			if err := cl.Connect(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			cl.StartAll()
			if err := cl.RunUntil(10*time.Second, func() bool { return cl.Messages() >= 1000 }); err != nil || cl.Messages() < 1000 {
				t.Fatalf("%d of 1000 requests: %v", cl.Messages(), err)
			}
			// Measure records every latency, as a measured run does.
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			requests, _, err := cl.Measure(300*time.Millisecond, nil)
			runtime.ReadMemStats(&after)
			if err != nil || requests < 500 {
				t.Fatalf("%d requests in 300ms: %v", requests, err)
			}
			// Not exactly 0: when a locked loop thread hands its P over, the
			// Go runtime sometimes starts an OS thread (runtime.newm), which
			// allocates about 7 objects, seen here once in a few runs. One
			// allocation per request, anywhere, would be thousands.
			if n := after.Mallocs - before.Mallocs; n > 20 {
				t.Errorf("%d allocations over %d requests, want 0 (at most 20 for the runtime's threads)", n, requests)
			}
			closeErr := cl.Close()
			if _, err := srv.shutdown(); err != nil || closeErr != nil {
				t.Fatal(err, closeErr)
			}
		})
	}
}
