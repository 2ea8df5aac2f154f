// Package sysx holds the suite's Linux plumbing: CPU affinity for child
// processes, CPU time and memory of a process read from /proc, the file
// descriptor limit, and perf's system call counter.
package sysx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// AllowedCPUs returns the CPUs this process may run on, in ascending order.
func AllowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for cpu := 0; len(cpus) < set.Count() && cpu < 64*len(set); cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus, nil
}

// Start starts cmd with its CPU affinity set to cpus (all the CPUs this
// process may use when cpus is empty). The child inherits the affinity of
// the thread that forks it, and every thread the child creates inherits it
// in turn, so forking from a locked thread with that affinity binds the
// whole child from its first instruction, as taskset does. Go's runtime
// also sizes GOMAXPROCS from the affinity it starts with. The thread is
// left locked when the goroutine ends, so the runtime discards it instead
// of handing its affinity to other goroutines.
func Start(cmd *exec.Cmd, cpus []int) error {
	var set unix.CPUSet
	if len(cpus) == 0 {
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return err
		}
	}
	for _, cpu := range cpus {
		set.Set(cpu)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("sched_setaffinity(%v): %w", cpus, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// CPU is a process's CPU time, split into user and system (kernel) time.
type CPU struct{ User, System time.Duration }

// Total is user plus system time.
func (c CPU) Total() time.Duration { return c.User + c.System }

// Sub returns the CPU time used between an earlier reading and c.
func (c CPU) Sub(earlier CPU) CPU { return CPU{c.User - earlier.User, c.System - earlier.System} }

// CPUOf returns the CPU time (all threads, including exited ones) process
// pid has used, from /proc/PID/stat, in 10 ms steps.
func CPUOf(pid int) (CPU, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return CPU{}, err
	}
	// Field 2, the command, is parenthesised and may hold spaces; the
	// fields after the last ')' start at field 3.
	rest := raw[bytes.LastIndexByte(raw, ')')+1:]
	fields := bytes.Fields(rest)
	if len(fields) < 13 {
		return CPU{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks [2]int64
	for i, f := range fields[11:13] { // utime, stime: fields 14 and 15
		if ticks[i], err = strconv.ParseInt(string(f), 10, 64); err != nil {
			return CPU{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
	}
	return CPU{time.Duration(ticks[0]) * time.Second / clockTicks, time.Duration(ticks[1]) * time.Second / clockTicks}, nil
}

// Self is the pid MemoryOf takes for this process.
const Self = 0

// MemoryOf returns a size field of /proc/PID/status in bytes: "VmRSS"
// (resident now) or "VmHWM" (peak resident). Pid Self is this process.
func MemoryOf(pid int, field string) (int64, error) {
	dir := "self"
	if pid != Self {
		dir = strconv.Itoa(pid)
	}
	raw, err := os.ReadFile("/proc/" + dir + "/status")
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
	return 0, fmt.Errorf("/proc/%d/status has no %s line in kB", pid, field)
}

// SelfCPU returns the CPU time this process has used, all threads, in
// microseconds' resolution (getrusage).
func SelfCPU() CPU {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return CPU{}
	}
	return CPU{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

// RaiseNoFile makes RLIMIT_NOFILE at least want, raising the hard limit
// too when it is lower (which takes CAP_SYS_RESOURCE, as root has).
func RaiseNoFile(want uint64) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= want {
		return nil
	}
	lim.Cur = want
	lim.Max = max(lim.Max, want)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raising RLIMIT_NOFILE to %d: %w", want, err)
	}
	return nil
}

// Reap waits for cmd with a time limit, killing it when the limit passes.
func Reap(cmd *exec.Cmd, limit time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		return errors.New(cmd.Args[0] + " did not finish in time and was killed")
	}
}
