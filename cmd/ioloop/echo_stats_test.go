//go:build !windows

package main

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/serve"
	"golang.org/x/sys/unix"
)

// loopStatsLine is one line of `ioloop echo -stats`.
var loopStatsLine = regexp.MustCompile(`^loopstats kernel_enters=([0-9]+) in_flight=([0-9]+) overflow=[0-9]+ overflow_high=[0-9]+ ` +
	`timers=([0-9]+) inbox=[0-9]+ pool_free=[0-9]+ ops=((?:[A-Za-z]+:[0-9]+/[0-9]+,?)*)$`)

// opCountsIn parses the ops= field of a loopstats line.
func opCountsIn(t *testing.T, ops string) map[string][2]int {
	t.Helper()
	counts := map[string][2]int{}
	for _, field := range strings.Split(ops, ",") {
		name, pair, _ := strings.Cut(field, ":")
		submitted, completed, _ := strings.Cut(pair, "/")
		s, err1 := strconv.Atoi(submitted)
		c, err2 := strconv.Atoi(completed)
		if err1 != nil || err2 != nil {
			t.Fatalf("ops field %q", field)
		}
		counts[name] = [2]int{s, c}
	}
	return counts
}

// TestEchoStatsPrintsLoopCounters runs the echo server with the -stats
// printer, echoes on a few connections, and checks the printed lines: one
// per interval, each the loop's counters, which show the server's
// Accepts, Recvs and Sends and the printer's own Timeouts.
func TestEchoStatsPrintsLoopCounters(t *testing.T) {
	listenFD, bound, err := ioloop.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ioloop.ListenOptions{NoDelay: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(listenFD) })
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := serve.NewEcho(loop, listenFD, 4096)
	srv.Start()
	var out strings.Builder // written by the loop's goroutine, read after it ends
	startLoopStats(loop, 5*time.Millisecond, &out)
	var stop atomic.Bool
	served := make(chan error, 1)
	go func() {
		for !stop.Load() {
			if err := loop.RunFor(5 * time.Millisecond); err != nil {
				served <- err
				return
			}
		}
		// Let the printer print the final state once more before Close.
		served <- loop.RunFor(20 * time.Millisecond)
	}()
	const conns, rounds, size = 2, 5, 64
	clients := dialEchoClients(t, bound, conns, 10*time.Second)
	echoRounds(t, clients, rounds, size)
	stop.Store(true)
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if err := loop.Close(); err != nil {
		t.Fatal(err)
	}

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("printed %q, want a line every 5ms", out.String())
	}
	var lastEnters int
	for i, line := range lines {
		m := loopStatsLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line %d: %q does not match %v", i, line, loopStatsLine)
		}
		enters, _ := strconv.Atoi(m[1])
		if enters < lastEnters {
			t.Errorf("line %d: kernel_enters went down from %d to %d", i, lastEnters, enters)
		}
		lastEnters = enters
		// The echo server sets no timers, and the printer's own has fired:
		// its callback prints.
		if timers, _ := strconv.Atoi(m[3]); timers != 0 {
			t.Errorf("line %d: timers=%d, want 0", i, timers)
		}
	}
	last := opCountsIn(t, loopStatsLine.FindStringSubmatch(lines[len(lines)-1])[4])
	if accepts := last["Accept"]; accepts[1] < conns {
		t.Errorf("last line: Accept %v, want at least %d completed", accepts, conns)
	}
	if recvs := last["Recv"]; recvs[1] < conns*rounds {
		t.Errorf("last line: Recv %v, want at least %d completed (one per message, at least)", recvs, conns*rounds)
	}
	if sends := last["Send"]; sends[0] < conns*rounds || sends[0] != sends[1] {
		t.Errorf("last line: Send %v, want at least %d, all completed", sends, conns*rounds)
	}
	if timeouts := last["Timeout"]; timeouts != [2]int{len(lines), len(lines)} {
		t.Errorf("last line: Timeout %v, want the printer's, one per line printed (%d)", timeouts, len(lines))
	}
}

// TestEchoStatsFlag rejects -stats where it has no loop to read.
func TestEchoStatsFlag(t *testing.T) {
	for args, want := range map[string]string{
		"-stats -1s":                 "-stats must not be negative",
		"-stats 1s -server gonet":    "-stats does not apply to -server gonet",
		"-stats 1s -loops 2":         "-stats reads one loop's counters",
		"-stats 1s -loops 1 -pin":    "-stats reads one loop's counters",
		"-stats fast":                `invalid value "fast" for flag -stats`,
		"-addr 127.0.0.1:0 -stats 1": `invalid value "1" for flag -stats`,
	} {
		code, stdout, stderr := runCLI(append([]string{"echo"}, strings.Fields(args)...)...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, want) {
			t.Errorf("ioloop echo %s: exit %d, stdout %q, stderr %q; want exit %d and %q", args, code, stdout, stderr, exitUsage, want)
		}
	}
}
