package ioloop

import (
	"errors"

	"golang.org/x/sys/unix"
)

// allowedCPUs lists the CPUs the process may run on (its affinity mask,
// which taskset and cgroups' cpusets shape), in ascending order.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, err
	}
	var cpus []int
	for cpu := 0; cpu < len(set)*64; cpu++ {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	if len(cpus) == 0 {
		return nil, errors.New("empty CPU affinity mask")
	}
	return cpus, nil
}

// pinThread restricts the calling thread (tid 0) to cpu.
func pinThread(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}
