//go:build !windows

package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/ioloop/ioloop"
)

// cliEnv makes the test binary behave as the ioloop command (see
// TestMain). `bench echo -server` starts its server by running its own
// executable, which in tests is the test binary: the variable, inherited,
// makes that child an `ioloop echo`.
const cliEnv = "IOLOOP_TEST_BINARY_IS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// runCLI runs the CLI in-process and returns its exit code and output.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut strings.Builder
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// runCLIProcess runs the CLI in a child process, for the subcommands that
// change process-wide state (CPU affinity) or start children of their
// own. t.Setenv(cliEnv, "1") must be in effect.
func runCLIProcess(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// parseReport parses a `name=... key=value ...` result line.
func parseReport(t *testing.T, line string) map[string]string {
	t.Helper()
	fields := map[string]string{}
	for _, kv := range strings.Fields(line) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("%q in result line %q is not key=value", kv, line)
		}
		fields[k] = v
	}
	return fields
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
		// -backend on every subcommand, and the flags that go with it.
		{"info", "-backend", "garbage"},
		{"echo", "-backend", "garbage"},
		{"bench", "nop", "-backend", "garbage"},
		{"bench", "read", "-file", "f", "-backend", "garbage"},
		{"bench", "echo", "-backend", "garbage"},
		{"bench", "nop", "-entries", "40000"},
		{"bench", "read", "-file", "f", "-workers", "-1"},
		// Modes, and flags that do not apply to the mode chosen.
		{"echo", "-server", "nginx"},
		{"echo", "-server", "gonet", "-backend", "epoll"},
		{"bench", "read", "-file", "f", "-engine", "mmap"},
		{"bench", "read", "-file", "f", "-engine", "readat", "-workers", "4"},
		{"bench", "read", "-file", "f", "-engine", "readat", "-backend", "epoll"},
		{"bench", "echo", "-server", "nginx"},
		{"bench", "echo", "-server-backend", "epoll"},
		{"bench", "echo", "-pin", "0,1"},
		{"bench", "echo", "-server", "gonet", "-server-backend", "epoll"},
		{"bench", "echo", "-server", "gonet", "-pin", "0,0"},
		{"bench", "echo", "-server", "gonet", "-pin", "first"},
		// Loops: only the ioloop server has them.
		{"echo", "-loops", "0"},
		{"echo", "-loops", "1025"},
		{"echo", "-server", "gonet", "-loops", "2"},
		{"echo", "-server", "gonet", "-pin"},
		{"echo", "-pin"},
		{"bench", "echo", "-server-loops", "2"},
		{"bench", "echo", "-server", "gonet", "-server-loops", "2"},
		{"bench", "echo", "-server", "ioloop", "-server-loops", "0"},
		{"bench", "echo", "-server", "ioloop", "-server-loops", "2", "-pin", "0,1"},
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
	want := regexp.MustCompile(`^name=ioloop_nop backend=io_uring batch=16 ops=10000 ops_per_sec=[1-9][0-9]* cpu_us_per_op=[0-9]+\.[0-9]{3}\n$`)
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
	want := regexp.MustCompile(`^name=ioloop_read backend=io_uring mode=plain qd=4 bs=4096 direct=false ops_per_sec=[1-9][0-9]* cpu_us_per_op=[0-9.]+ allocs_per_op=[0-9.]+\n$`)
	if !want.MatchString(stdout) {
		t.Errorf("output %q does not match %v", stdout, want)
	}
}

// TestBackendFlagRejectsGarbage checks that a bad -backend names the
// accepted values, whichever subcommand it is given to.
func TestBackendFlagRejectsGarbage(t *testing.T) {
	for _, args := range [][]string{
		{"info"}, {"echo"}, {"bench", "nop"}, {"bench", "read", "-file", "f"}, {"bench", "echo"},
	} {
		args = append(args, "-backend", "garbage")
		code, _, stderr := runCLI(args...)
		want := `invalid value "garbage" for flag -backend: unknown backend "garbage" (want auto, io_uring, epoll or kqueue)`
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("ioloop %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(args, " "), code, stderr, want)
		}
	}
}

func TestBackendFlag(t *testing.T) {
	for text, want := range map[string]ioloop.Backend{
		"auto": ioloop.BackendAuto, "io_uring": ioloop.BackendIOUring, "uring": ioloop.BackendIOUring,
		"epoll": ioloop.BackendEpoll, "kqueue": ioloop.BackendKqueue,
	} {
		var b backendFlag
		if err := b.Set(text); err != nil || b.Backend != want {
			t.Errorf("Set(%q) = %v, %v; want %v", text, b.Backend, err, want)
		}
	}
	var b backendFlag
	if b.String() != "auto" {
		t.Errorf("zero backendFlag prints %q, want auto", b.String())
	}
	if err := b.Set("IO_URING"); err == nil {
		t.Error("Set accepted IO_URING; ParseBackend is case-sensitive, and so must the flag be")
	}
}

// TestInfoBackendSelection checks what info says about the backend New
// selects: the requested backend, IOLOOP_BACKEND and whether it applied.
func TestInfoBackendSelection(t *testing.T) {
	requireIOURing(t)
	info := func(env string, args ...string) (infoResult, string) {
		t.Helper()
		t.Setenv(ioloop.BackendEnv, env)
		code, stdout, stderr := runCLI(append([]string{"info", "-json"}, args...)...)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var result infoResult
		if err := json.Unmarshal([]byte(stdout), &result); err != nil {
			t.Fatal(err)
		}
		_, text, _ := runCLI(append([]string{"info"}, args...)...)
		return result, text
	}

	got, text := info("")
	if got.Loop.Requested != "auto" || !got.Loop.OK || got.Loop.Backend != "io_uring" || got.Loop.EnvBackend != "" {
		t.Errorf("default: %+v, want auto selecting io_uring without IOLOOP_BACKEND", got.Loop)
	}
	if !strings.Contains(text, "loop backend:      io_uring (auto's choice on this machine)\n") {
		t.Errorf("default: text does not say what auto chose:\n%s", text)
	}

	got, text = info("io_uring")
	if got.Loop.EnvBackend != "io_uring" || !got.Loop.EnvApplies || got.Loop.Backend != "io_uring" {
		t.Errorf("IOLOOP_BACKEND=io_uring: %+v", got.Loop)
	}
	if !strings.Contains(text, "IOLOOP_BACKEND:    io_uring (overrides auto)\n") ||
		!strings.Contains(text, "loop backend:      io_uring (set by IOLOOP_BACKEND)\n") {
		t.Errorf("IOLOOP_BACKEND=io_uring: text does not say the variable decided:\n%s", text)
	}

	// An explicit -backend is never overridden.
	got, text = info("epoll", "-backend", "io_uring")
	if got.Loop.Requested != "io_uring" || got.Loop.EnvApplies || got.Loop.Backend != "io_uring" {
		t.Errorf("-backend io_uring with IOLOOP_BACKEND=epoll: %+v", got.Loop)
	}
	if !strings.Contains(text, "IOLOOP_BACKEND:    epoll (ignored: -backend io_uring is explicit)\n") {
		t.Errorf("-backend io_uring with IOLOOP_BACKEND=epoll: text does not say the variable was ignored:\n%s", text)
	}

	// A value the library does not know is an error, not a report of it:
	// every subcommand that would create a loop on auto rejects it, naming
	// the value and the names it accepts. An explicit -backend makes the
	// variable irrelevant, as it does for the library.
	t.Setenv(ioloop.BackendEnv, "bogus")
	for _, args := range [][]string{{"info"}, {"info", "-json"}, {"bench", "nop", "-count", "1"}, {"echo"}} {
		code, stdout, stderr := runCLI(args...)
		want := `: environment variable IOLOOP_BACKEND=bogus: unknown backend "bogus" (want auto, io_uring, epoll or kqueue)`
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, want) || strings.Contains(stderr, libraryPrefix) {
			t.Errorf("IOLOOP_BACKEND=bogus ioloop %s: exit %d, stdout %q, stderr %q; want exit 2 and %q", strings.Join(args, " "), code, stdout, stderr, want)
		}
	}
	if got, _ := info("bogus", "-backend", "io_uring"); !got.Loop.OK || got.Loop.EnvApplies {
		t.Errorf("-backend io_uring with IOLOOP_BACKEND=bogus: %+v", got.Loop)
	}
}

// TestErrorsHaveOnePrefix: the command's name leads an error message, and
// the library's "ioloop: " does not follow it.
func TestErrorsHaveOnePrefix(t *testing.T) {
	unavailable := "kqueue"
	if runtime.GOOS != "linux" {
		unavailable = "epoll"
	}
	code, _, stderr := runCLI("bench", "nop", "-count", "1", "-backend", unavailable)
	if want := "ioloop bench nop: cannot use " + unavailable + ": "; code != exitFail || !strings.HasPrefix(stderr, want) {
		t.Errorf("exit %d, stderr %q; want exit 1 and a message starting %q", code, stderr, want)
	}
}

// TestBenchEchoHelpOneAddrDefault: -addr's default depends on -server, and
// the help states each once, without the flag package's own.
func TestBenchEchoHelpOneAddrDefault(t *testing.T) {
	_, _, stderr := runCLI("bench", "echo", "-h")
	_, help, _ := strings.Cut(stderr, "  -addr string\n")
	help, _, _ = strings.Cut(help, "\n")
	if strings.Count(help, "default") != 2 || strings.Contains(help, `(default "`) {
		t.Errorf("-addr help %q, want the two defaults (without and with -server) stated once each", help)
	}
}

func TestEffectiveWorkers(t *testing.T) {
	for _, c := range []struct {
		backend       ioloop.Backend
		workers, want int
	}{
		{ioloop.BackendIOUring, 0, 0},
		{ioloop.BackendIOUring, 8, 0},
		{ioloop.BackendEpoll, 0, ioloop.DefaultFileWorkers},
		{ioloop.BackendKqueue, 8, 8},
	} {
		if got := effectiveWorkers(c.backend, c.workers); got != c.want {
			t.Errorf("effectiveWorkers(%v, %d) = %d, want %d", c.backend, c.workers, got, c.want)
		}
	}
}

func TestBenchReadReadAt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	code, stdout, stderr := runCLI("bench", "read", "-engine", "readat", "-file", path, "-size", "1M", "-qd", "4", "-duration", "50ms")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := regexp.MustCompile(`^name=readat_read qd=4 bs=4096 direct=false ops_per_sec=[1-9][0-9]* cpu_us_per_op=[0-9]+\.[0-9]{3}\n$`)
	if !want.MatchString(stdout) {
		t.Errorf("output %q does not match %v", stdout, want)
	}
	// A block size that does not fit the file is an error, not 0 IOPS.
	code, _, stderr = runCLI("bench", "read", "-engine", "readat", "-file", path, "-bs", "2097152", "-duration", "50ms")
	if code != exitFail || !strings.Contains(stderr, "less than one") {
		t.Errorf("-bs larger than the file: exit %d, stderr %q", code, stderr)
	}
}
