//go:build linux

package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBenchReadModes runs every -mode briefly on io_uring, where fixedbuf
// and fixed submit IORING_OP_READ_FIXED and fixedfile and fixed name the
// file by its registered slot, and on epoll, where all four are plain
// reads. A read into a buffer the loop did not register, or on a slot the
// kernel does not know, fails the run (exit 1); a steady state that
// allocates shows in allocs_per_op.
func TestBenchReadModes(t *testing.T) {
	requireIOURing(t)
	path := filepath.Join(t.TempDir(), "data")
	for _, backend := range []string{"io_uring", "epoll"} {
		for _, mode := range []string{readModePlain, readModeFixedBuf, readModeFixedFile, readModeFixed} {
			code, stdout, stderr := runCLI("bench", "read", "-backend", backend, "-mode", mode,
				"-file", path, "-size", "4M", "-qd", "16", "-duration", "100ms")
			if code != exitOK {
				t.Fatalf("%s -mode %s: exit %d: %s", backend, mode, code, stderr)
			}
			got := parseReport(t, strings.TrimSpace(stdout))
			if got["backend"] != backend || got["mode"] != mode || got["qd"] != "16" {
				t.Errorf("%s -mode %s: result %q names another run", backend, mode, stdout)
			}
			ops, err := strconv.ParseFloat(got["ops_per_sec"], 64)
			if err != nil || ops < 100 {
				t.Errorf("%s -mode %s: ops_per_sec=%q, want at least 100 page-cache reads a second", backend, mode, got["ops_per_sec"])
			}
			cpu, err := strconv.ParseFloat(got["cpu_us_per_op"], 64)
			if err != nil || cpu <= 0 {
				t.Errorf("%s -mode %s: cpu_us_per_op=%q, want a positive number", backend, mode, got["cpu_us_per_op"])
			}
			// One allocation per read would be 1.0. What remains is the
			// runtime's own, now and then, which on a loaded machine
			// (fewer reads in 100 ms) reached 0.013 per read.
			allocs, err := strconv.ParseFloat(got["allocs_per_op"], 64)
			if err != nil || (allocs > 0.1 && !raceEnabled) { // the race detector allocates in the file workers
				t.Errorf("%s -mode %s: allocs_per_op=%q, want 0 in steady state", backend, mode, got["allocs_per_op"])
			}
		}
	}
}

// TestBenchReadModeNeedsLoop checks that -mode, which selects the loop's
// registered resources, is refused with the readat engine, which has none.
func TestBenchReadModeNeedsLoop(t *testing.T) {
	code, _, stderr := runCLI("bench", "read", "-engine", "readat", "-mode", "fixed", "-file", "f")
	if code != exitUsage || !strings.Contains(stderr, "-mode does not apply to -engine readat") {
		t.Errorf("exit %d, stderr %q; want exit 2 naming -mode", code, stderr)
	}
	code, _, stderr = runCLI("bench", "read", "-mode", "registered", "-file", "f")
	if code != exitUsage || !strings.Contains(stderr, "want one of plain, fixedbuf, fixedfile, fixed") {
		t.Errorf("unknown mode: exit %d, stderr %q; want exit 2 naming the modes", code, stderr)
	}
}
