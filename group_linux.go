package ioloop

import "github.com/ioloop/ioloop/internal/cpuset"

// allowedCPUs lists the CPUs the process may run on (its affinity mask,
// which taskset and cgroups' cpusets shape), in ascending order.
func allowedCPUs() ([]int, error) { return cpuset.Allowed() }

// pinThread restricts the calling thread (tid 0) to cpu.
func pinThread(cpu int) error { return cpuset.PinThread(cpu) }
