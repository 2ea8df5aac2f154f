package main

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

	"golang.org/x/sys/unix"
)

// allowedCPUs returns the CPUs this process may run on, in ascending order.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for cpu := 0; len(cpus) < set.Count(); cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus, nil
}

func cpuSetOf(cpu int) *unix.CPUSet {
	var set unix.CPUSet
	set.Set(cpu)
	return &set
}

// startPinned starts cmd with every thread of the child bound to cpu (no
// binding when cpu < 0). A forked child inherits the CPU affinity of the
// thread that forked it, and the child's threads inherit it in turn, so
// forking from a thread bound to cpu pins the child from its first
// instruction, as taskset does, without racing the child's runtime as it
// starts threads. The bound thread must not go back to the scheduler's
// pool, so its goroutine never unlocks it: the runtime ends the thread
// when the goroutine returns.
func startPinned(cmd *exec.Cmd, cpu int) error {
	if cpu < 0 {
		return cmd.Start()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.SchedSetaffinity(0, cpuSetOf(cpu)); err != nil {
			done <- fmt.Errorf("sched_setaffinity(CPU %d): %w", cpu, err)
			return
		}
		done <- cmd.Start()
	}()
	return <-done
}

// pinProcess binds every thread of this process to cpu and sets
// GOMAXPROCS to 1, which is what a process started under `taskset -c cpu`
// gets.
func pinProcess(cpu int) error {
	if err := bindThreads(cpuSetOf(cpu)); err != nil {
		return fmt.Errorf("binding to CPU %d: %w", cpu, err)
	}
	runtime.GOMAXPROCS(1)
	return nil
}

// bindThreads sets the CPU affinity of every thread of this process.
// sched_setaffinity binds one thread, and a thread created later inherits
// the binding of its creator, so scanning /proc/self/task until a pass
// finds no thread it has not bound also catches the threads that unbound
// ones created during a scan.
func bindThreads(set *unix.CPUSet) error {
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

// userHZ is the unit of the times in /proc/<pid>/stat (USER_HZ), which is
// 100 on every architecture Go supports.
const userHZ = 100

// processCPUOf returns the CPU time (user + system, all threads, living
// and exited) that process pid has used, from /proc/<pid>/stat, in steps
// of 10 ms: over a measured window of seconds that is well under 1%.
func processCPUOf(pid int) (time.Duration, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may contain spaces
	// and parentheses itself; the fields after its last ')' start with
	// field 3, the state. utime and stime are fields 14 and 15.
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return 0, fmt.Errorf("%s: no command name in %q", path, raw)
	}
	fields := bytes.Fields(raw[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("%s: %d fields, want at least 15", path, len(fields)+2)
	}
	var ticks uint64
	for _, field := range fields[11:13] {
		n, err := strconv.ParseUint(string(field), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: utime/stime %q: %w", path, field, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// machineBusy returns the CPU time all CPUs of the machine have spent
// busy (user, nice, system, irq, softirq, steal) from /proc/stat, or -1
// where there is no /proc/stat. Less this process's and the server's, it
// is what everything else on the machine took over a window: on a shared
// machine the one number that says whether a run was disturbed.
func machineBusy() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line) // "cpu user nice system idle iowait irq softirq steal ..."
	if len(fields) < 9 || fields[0] != "cpu" {
		return -1
	}
	var ticks uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseUint(fields[i], 10, 64)
		if err != nil {
			return -1
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ)
}
