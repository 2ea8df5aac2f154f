//go:build linux

package main

import (
	"strconv"
	"strings"
	"testing"
)

// TestBenchSendZC streams briefly with each mode, on io_uring (where zc
// is IORING_OP_SEND_ZC and each message's callback waits for the
// kernel's notification) and on epoll (where it is Send), and checks that
// the result is a sane measurement: data moved, both threads' CPU was
// counted, and the steady state does not allocate.
func TestBenchSendZC(t *testing.T) {
	requireIOURing(t)
	for _, backend := range []string{"io_uring", "epoll"} {
		for _, mode := range []string{sendModeSend, sendModeZC} {
			for _, size := range []string{"64K", "1M"} {
				code, stdout, stderr := runCLI("bench", "sendzc", "-backend", backend, "-mode", mode, "-size", size,
					"-warmup", "50ms", "-duration", "200ms")
				if code != exitOK {
					t.Fatalf("%s -mode %s -size %s: exit %d: %s", backend, mode, size, code, stderr)
				}
				got := parseReport(t, strings.TrimSpace(stdout))
				number := func(key string) float64 {
					v, err := strconv.ParseFloat(got[key], 64)
					if err != nil {
						t.Errorf("%s -mode %s -size %s: %s=%q is not a number", backend, mode, size, key, got[key])
					}
					return v
				}
				wantSize := map[string]string{"64K": "65536", "1M": "1048576"}[size]
				if got["backend"] != backend || got["mode"] != mode || got["size"] != wantSize {
					t.Errorf("%s -mode %s -size %s: result %q names another run", backend, mode, size, stdout)
				}
				// Loopback moves hundreds of MB/s even on a loaded
				// machine; 10 MB/s would mean something is stuck.
				if gbps := number("gb_per_sec"); gbps < 0.01 {
					t.Errorf("%s -mode %s -size %s: gb_per_sec=%v, want at least 0.01", backend, mode, size, gbps)
				}
				if bytes, sends := number("bytes"), number("sends_per_sec"); bytes < 65536 || sends <= 0 {
					t.Errorf("%s -mode %s -size %s: bytes=%v sends_per_sec=%v", backend, mode, size, bytes, sends)
				}
				sender, receiver, process := number("sender_cpu_ns_per_byte"), number("receiver_cpu_ns_per_byte"), number("process_cpu_ns_per_byte")
				if sender <= 0 || receiver <= 0 || process < (sender+receiver)*0.9 {
					// The two threads are part of the process: its CPU
					// cannot be much below their sum (readings of the
					// receiver may miss a tick's worth).
					t.Errorf("%s -mode %s -size %s: CPU per byte sender=%v receiver=%v process=%v", backend, mode, size, sender, receiver, process)
				}
				// The race detector's runtime allocates on the command's
				// other goroutines, which the process-wide count sees
				// (as in bench_read_test.go); the library's own proof
				// of zero allocations is TestAllocs*.
				if allocs := number("allocs_per_send"); allocs > 0.05 && !raceEnabled {
					t.Errorf("%s -mode %s -size %s: allocs_per_send=%v, want 0 in steady state", backend, mode, size, allocs)
				}
			}
		}
	}
}

func TestBenchSendZCUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "splice"},
		{"-size", "0"},
		{"-size", "2G"},
		{"-duration", "0s"},
		{"-warmup", "-1s"},
		{"extra"},
	} {
		code, _, stderr := runCLI(append([]string{"bench", "sendzc"}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "usage: ioloop bench sendzc") {
			t.Errorf("bench sendzc %s: exit %d, stderr %q; want exit 2 with the usage", strings.Join(args, " "), code, stderr)
		}
	}
}
