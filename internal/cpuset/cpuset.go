// Package cpuset reads and sets CPU affinity: which CPUs this process may
// run on, and binding the calling thread to some of them. It is the one
// CPU-list reader of the repository, shared by the library (Group's
// PinCPUs), the CLI's benchmarks and the bench/ suite, so that they all
// agree on what "the CPUs this process may use" means (the affinity mask,
// which taskset and cgroups' cpusets shape). Like every internal package
// of the library it imports only the standard library and x/sys.
package cpuset
