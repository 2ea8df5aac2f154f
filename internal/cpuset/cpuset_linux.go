package cpuset

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Allowed returns the CPUs this process may run on, in ascending order. It
// fails rather than return an empty list.
func Allowed() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	n := set.Count()
	if n == 0 {
		return nil, errors.New("empty CPU affinity mask")
	}
	cpus := make([]int, 0, n)
	// Stop at the last CPU set: the mask has room for 1024.
	for cpu := 0; len(cpus) < n; cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus, nil
}

// Of returns the affinity mask that holds exactly cpus.
func Of(cpus ...int) *unix.CPUSet {
	var set unix.CPUSet
	for _, cpu := range cpus {
		set.Set(cpu)
	}
	return &set
}

// PinThread binds the calling thread (tid 0) to cpus. The caller must
// hold the thread with runtime.LockOSThread, or the binding lands on
// whichever goroutine runs on the thread next.
func PinThread(cpus ...int) error {
	if err := unix.SchedSetaffinity(0, Of(cpus...)); err != nil {
		return fmt.Errorf("sched_setaffinity: %w", err)
	}
	return nil
}
