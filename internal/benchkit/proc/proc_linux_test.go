//go:build !windows

package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ioloop/ioloop/internal/cpuset"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary a child that runs a few goroutines (so
// that the runtime starts threads after the fork) until it is killed.
const childEnv = "IOLOOP_PROC_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		for range 4 {
			go func() {
				for {
					time.Sleep(time.Millisecond)
				}
			}()
		}
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

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

// TestStartPinned checks that every thread of a child is bound to the CPU
// asked for, threads the Go runtime started after the fork included, and
// that its CPU time can be read.
func TestStartPinned(t *testing.T) {
	cpus, err := cpuset.Allowed()
	if err != nil {
		t.Fatal(err)
	}
	cpu := cpus[len(cpus)-1]
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1")
	if err := StartPinned(cmd, []int{cpu}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pid := strconv.Itoa(cmd.Process.Pid)
	var lists []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if lists = threadCPUs(t, pid); len(lists) >= 2 {
			break
		}
	}
	if len(lists) < 2 {
		t.Errorf("the child has %d threads; a Go program has several", len(lists))
	}
	for _, list := range lists {
		if list != strconv.Itoa(cpu) {
			t.Errorf("a child thread may run on CPUs %s, want %d only", list, cpu)
		}
	}
	if _, err := ProcessCPU(cmd.Process.Pid); err != nil {
		t.Error(err)
	}
	if rss, err := Memory(cmd.Process.Pid, "VmRSS"); err != nil || rss <= 0 {
		t.Errorf("Memory(VmRSS) = %d, %v", rss, err)
	}
	// This goroutine's own thread must not have been bound along the way.
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() != len(cpus) {
		t.Errorf("the test's thread is bound to %d CPUs after starting the child, want %d", set.Count(), len(cpus))
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
		if err := BindThreads(&original); err != nil {
			t.Errorf("restoring the CPU affinity: %v", err)
		}
		runtime.GOMAXPROCS(procs)
	})
	cpus, err := cpuset.Allowed()
	if err != nil {
		t.Fatal(err)
	}
	if err := PinProcess(cpus[0]); err != nil {
		t.Fatal(err)
	}
	for _, list := range threadCPUs(t, "self") {
		if list != strconv.Itoa(cpus[0]) {
			t.Errorf("a thread may run on CPUs %s after PinProcess(%d)", list, cpus[0])
		}
	}
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("GOMAXPROCS is %d after pinning, want 1", n)
	}
}

func TestProcessCPU(t *testing.T) {
	if _, err := ProcessCPU(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
	// Burn some CPU and see it counted, in 10 ms steps.
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self := SelfCPU()
	for {
		if SelfCPU().Sub(self).Total() > 50*time.Millisecond {
			break
		}
	}
	after, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after.Sub(before).Total(); d < 30*time.Millisecond {
		t.Errorf("/proc counted %v of CPU time over 50ms of spinning", d)
	}
}

func TestMachineBusy(t *testing.T) {
	if busy := MachineBusy(); busy <= 0 {
		t.Errorf("MachineBusy() = %v, want the machine's busy time since boot", busy)
	}
}
