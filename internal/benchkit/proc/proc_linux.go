//go:build !windows

package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ioloop/ioloop/internal/cpuset"
	"golang.org/x/sys/unix"
)

// StartPinned starts cmd with every thread of the child bound to cpus (no
// binding when cpus is empty). A forked child inherits the CPU affinity of
// the thread that forked it, and the child's threads inherit it in turn,
// so forking from a thread bound to cpus pins the child from its first
// instruction, as taskset does, without racing the child's runtime as it
// starts threads (Go's runtime also sizes GOMAXPROCS from the affinity it
// starts with). The bound thread must not go back to the scheduler's
// pool, so its goroutine never unlocks it: the runtime ends the thread
// when the goroutine returns.
func StartPinned(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cpuset.PinThread(cpus...); err != nil {
			done <- fmt.Errorf("binding to CPUs %v: %w", cpus, err)
			return
		}
		done <- cmd.Start()
	}()
	return <-done
}

// PinProcess binds every thread of this process to cpu and sets
// GOMAXPROCS to 1, which is what a process started under `taskset -c cpu`
// gets.
func PinProcess(cpu int) error {
	if err := BindThreads(cpuset.Of(cpu)); err != nil {
		return fmt.Errorf("binding to CPU %d: %w", cpu, err)
	}
	runtime.GOMAXPROCS(1)
	return nil
}

// BindThreads sets the CPU affinity of every thread of this process.
// sched_setaffinity binds one thread, and a thread created later inherits
// the binding of its creator, so scanning /proc/self/task until a pass
// finds no thread it has not bound also catches the threads that unbound
// ones created during a scan.
func BindThreads(set *unix.CPUSet) error {
	bound := map[int]bool{}
	for {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		found := false
		for _, task := range tasks {
			tid, err := strconv.Atoi(task.Name())
			if err != nil || bound[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) { // ESRCH: the thread has exited
				return fmt.Errorf("sched_setaffinity(thread %d): %w", tid, err)
			}
			bound[tid], found = true, true
		}
		if !found {
			return nil
		}
	}
}

// userHZ is the unit of the times in /proc/PID/stat and /proc/stat
// (USER_HZ), which is 100 on every architecture Go supports.
const userHZ = 100

// ticks converts a count of USER_HZ ticks to a duration.
func ticks(n uint64) time.Duration { return time.Duration(n) * (time.Second / userHZ) }

// ProcessCPU returns the CPU time (all threads, living and exited) that
// process pid has used, from /proc/PID/stat, in steps of 10 ms: over a
// measured window of seconds that is well under 1%.
func ProcessCPU(pid int) (CPU, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	raw, err := os.ReadFile(path)
	if err != nil {
		return CPU{}, err
	}
	// The command name (field 2) is in parentheses and may contain spaces
	// and parentheses itself; the fields after its last ')' start with
	// field 3, the state. utime and stime are fields 14 and 15.
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return CPU{}, fmt.Errorf("%s: no command name in %q", path, raw)
	}
	fields := bytes.Fields(raw[end+1:])
	if len(fields) < 13 {
		return CPU{}, fmt.Errorf("%s: %d fields, want at least 15", path, len(fields)+2)
	}
	var times [2]uint64 // utime, stime
	for i, field := range fields[11:13] {
		if times[i], err = strconv.ParseUint(string(field), 10, 64); err != nil {
			return CPU{}, fmt.Errorf("%s: utime/stime %q: %w", path, field, err)
		}
	}
	return CPU{User: ticks(times[0]), System: ticks(times[1])}, nil
}

// Self is the pid Memory takes for this process.
const Self = 0

// Memory returns a size field of /proc/PID/status in bytes: "VmRSS"
// (resident now) or "VmHWM" (peak resident). Pid Self is this process.
func Memory(pid int, field string) (int64, error) {
	dir := "self"
	if pid != Self {
		dir = strconv.Itoa(pid)
	}
	path := "/proc/" + dir + "/status"
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	prefix := []byte(field + ":")
	for line := range bytes.Lines(raw) {
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		parts := bytes.Fields(line[len(prefix):])
		if len(parts) != 2 || string(parts[1]) != "kB" {
			break
		}
		kib, err := strconv.ParseInt(string(parts[0]), 10, 64)
		return kib << 10, err
	}
	return 0, fmt.Errorf("%s has no %s line in kB", path, field)
}

// MachineBusy returns the CPU time all CPUs of the machine have spent
// busy (user, nice, system, irq, softirq, steal) from /proc/stat, or -1
// where it cannot be read. Less this process's and the server's, it is
// what everything else on the machine took over a window: on a shared
// machine the one number that says whether a run was disturbed.
func MachineBusy() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line) // "cpu user nice system idle iowait irq softirq steal ..."
	if len(fields) < 9 || fields[0] != "cpu" {
		return -1
	}
	var sum uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseUint(fields[i], 10, 64)
		if err != nil {
			return -1
		}
		sum += n
	}
	return ticks(sum)
}
