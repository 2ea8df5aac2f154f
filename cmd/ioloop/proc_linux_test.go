package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// threadCPUs returns each thread's Cpus_allowed_list, from /proc.
func threadCPUs(t *testing.T, pid string) []string {
	t.Helper()
	statuses, err := filepath.Glob("/proc/" + pid + "/task/*/status")
	if err != nil || len(statuses) == 0 {
		t.Fatalf("no threads of %s: %v", pid, err)
	}
	var lists []string
	for _, path := range statuses {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // the thread exited
		}
		for line := range strings.Lines(string(raw)) {
			if value, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				lists = append(lists, strings.TrimSpace(value))
			}
		}
	}
	return lists
}

// TestStartPinned checks that every thread of the server child is bound
// to the CPU asked for, threads the Go runtime started after the fork
// included, and that its CPU time can be read.
func TestStartPinned(t *testing.T) {
	cpus, err := allowedCPUs()
	if err != nil || len(cpus) == 0 {
		t.Fatalf("allowedCPUs: %v, %v", cpus, err)
	}
	cpu := cpus[len(cpus)-1]
	t.Setenv(cliEnv, "1")
	p, err := startServerProcess(serverGoNet, backendFlag{}, netip.MustParseAddrPort("127.0.0.1:0"), cpu, false, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.cleanup()
	pid := p.cmd.Process.Pid
	lists := threadCPUs(t, strconv.Itoa(pid))
	if len(lists) < 2 {
		t.Errorf("the server has %d threads; a Go program has several", len(lists))
	}
	for _, list := range lists {
		if list != strconv.Itoa(cpu) {
			t.Errorf("a server thread may run on CPUs %s, want %d only", list, cpu)
		}
	}
	if _, err := processCPUOf(pid); err != nil {
		t.Error(err)
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	// This goroutine's own thread must not have been bound along the way.
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() != len(cpus) {
		t.Errorf("the test's thread is bound to %d CPUs after starting the server, want %d", set.Count(), len(cpus))
	}
}

// TestPinProcess binds the test process itself and restores it afterwards.
func TestPinProcess(t *testing.T) {
	var original unix.CPUSet
	if err := unix.SchedGetaffinity(0, &original); err != nil {
		t.Fatal(err)
	}
	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() {
		if err := bindThreads(&original); err != nil {
			t.Errorf("restoring the CPU affinity: %v", err)
		}
		runtime.GOMAXPROCS(procs)
	})
	cpus, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if err := pinProcess(cpus[0]); err != nil {
		t.Fatal(err)
	}
	for _, list := range threadCPUs(t, "self") {
		if list != strconv.Itoa(cpus[0]) {
			t.Errorf("a thread may run on CPUs %s after pinProcess(%d)", list, cpus[0])
		}
	}
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("GOMAXPROCS is %d after pinning, want 1", n)
	}
}

func TestProcessCPUOf(t *testing.T) {
	if _, err := processCPUOf(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
	// Burn some CPU and see it counted, in 10 ms steps.
	before, err := processCPUOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self, _ := processCPU()
	for {
		now, _ := processCPU()
		if now-self > 50e6 {
			break
		}
	}
	after, err := processCPUOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 30e6 {
		t.Errorf("/proc counted %v of CPU time over 50ms of spinning", d)
	}
}
