package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ioloop/ioloop"
)

// runCLI runs the CLI in-process and returns its exit code and output.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut strings.Builder
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// requireIOURing skips tests that need a working loop on machines (or
// containers) without io_uring, saying why.
func requireIOURing(t *testing.T) {
	t.Helper()
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		var setupErr *ioloop.SetupError
		if errors.As(err, &setupErr) {
			t.Skipf("io_uring unavailable: %s", setupErr.Reason)
		}
		t.Fatal(err)
	}
	if err := loop.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	cases := [][]string{
		{},
		{"frobnicate"},
		{"bench"},
		{"bench", "frobnicate"},
		{"bench", "nop", "-batch", "0"},
		{"bench", "nop", "-count", "-1"},
		{"bench", "nop", "-batch", "x"},
		{"bench", "nop", "extra"},
		{"bench", "read"},
		{"bench", "read", "-file", "f", "-qd", "0"},
		{"bench", "read", "-file", "f", "-size", "12X"},
		{"bench", "echo", "-addr", "localhost"},
		{"bench", "echo", "-conns", "0"},
		{"echo", "-addr", "nonsense"},
		{"echo", "-nosuchflag"},
		{"info", "-json=maybe"},
	}
	for _, args := range cases {
		code, _, stderr := runCLI(args...)
		if code != exitUsage {
			t.Errorf("ioloop %s: exit %d, want %d", strings.Join(args, " "), code, exitUsage)
		}
		if !strings.Contains(stderr, "usage:") {
			t.Errorf("ioloop %s: stderr has no usage text: %q", strings.Join(args, " "), stderr)
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"help"}, {"-h"}, {"help", "echo"}, {"help", "bench"}, {"help", "bench", "read"},
		{"info", "-h"}, {"bench", "nop", "-help"},
	} {
		code, stdout, stderr := runCLI(args...)
		if code != exitOK {
			t.Errorf("ioloop %s: exit %d, want 0 (stderr %q)", strings.Join(args, " "), code, stderr)
		}
		if !strings.Contains(stdout+stderr, "usage:") {
			t.Errorf("ioloop %s printed no usage", strings.Join(args, " "))
		}
	}
}

func TestInfoJSON(t *testing.T) {
	code, stdout, stderr := runCLI("info", "-json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var info infoResult
	if err := json.Unmarshal([]byte(stdout), &info); err != nil {
		t.Fatalf("info -json is not JSON: %v\n%s", err, stdout)
	}
	if info.Kernel.Release == "" {
		t.Error("no kernel release")
	}
	if info.Loop.OK {
		if info.Ring == nil || len(info.Ring.Opcodes) == 0 || len(info.Ring.Features) == 0 {
			t.Errorf("loop works but the ring report is empty: %+v", info.Ring)
		}
	} else if info.Loop.Error == "" {
		t.Error("loop failed without saying why")
	}
}

func TestBenchNopOutput(t *testing.T) {
	requireIOURing(t)
	code, stdout, stderr := runCLI("bench", "nop", "-batch", "16", "-count", "10000")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := regexp.MustCompile(`^name=ioloop_nop batch=16 ops=10000 ops_per_sec=[1-9][0-9]* cpu_us_per_op=[0-9]+\.[0-9]{3}\n$`)
	if !want.MatchString(stdout) {
		t.Errorf("output %q does not match %v", stdout, want)
	}
	// A count below the batch size completes exactly count operations.
	code, stdout, stderr = runCLI("bench", "nop", "-batch", "128", "-count", "5", "-json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var result map[string]any
	if err := json.Unmarshal([]byte(stdout), &result); err != nil || result["ops"] != 5.0 {
		t.Errorf("-json output %q: %v", stdout, err)
	}
}

func TestBenchReadCreatesFile(t *testing.T) {
	requireIOURing(t)
	path := filepath.Join(t.TempDir(), "data")
	code, _, stderr := runCLI("bench", "read", "-file", path, "-duration", "10ms")
	if code != exitFail || !strings.Contains(stderr, "-size") {
		t.Errorf("missing file without -size: exit %d, stderr %q; want exit 1 naming -size", code, stderr)
	}
	code, stdout, stderr := runCLI("bench", "read", "-file", path, "-size", "1M", "-qd", "4", "-duration", "50ms")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := regexp.MustCompile(`^name=ioloop_read qd=4 bs=4096 direct=false ops_per_sec=[1-9][0-9]* cpu_us_per_op=[0-9.]+\n$`)
	if !want.MatchString(stdout) {
		t.Errorf("output %q does not match %v", stdout, want)
	}
}
