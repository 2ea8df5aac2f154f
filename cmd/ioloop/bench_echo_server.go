//go:build !windows

package main

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ioloop/ioloop/internal/benchkit/load"
	"github.com/ioloop/ioloop/internal/cpuset"
)

// serverProcess is the echo server of `bench echo -server`: `ioloop echo`
// started from this very binary in a child process (see childServer), and
// pinned to a CPU of its own, so that server and load generator do not
// take turns on one.
type serverProcess struct {
	*childServer
	server  string // ioloop or gonet
	addr    netip.AddrPort
	backend string // the backend the server reported it runs on
	stopped bool
	log     io.Writer // where notes go: the client's stderr
	loops   int       // the ioloop server's event loops
	pool    int       // the ioloop server's -pool: buffers per loop, 0 for the plain variant

	// countSyscalls asks for the second window, in which perf counts the
	// server's system calls.
	countSyscalls bool
	meter         *load.ServerMeter // the server's CPU time and system calls
}

// startServerProcess starts `ioloop echo -server server` listening on
// listen, pinned to cpu (none if negative), and waits until it listens.
// countSyscalls asks for the system calls to be counted.
func startServerProcess(server string, backend backendFlag, listen netip.AddrPort, cpu int, countSyscalls bool, log io.Writer) (*serverProcess, error) {
	return startServerChild(serverChild{server: server, backend: backend, listen: listen, loops: 1, pool: defaultPoolBuffers, cpu: cpu}, countSyscalls, log)
}

// serverChild says how to start the echo server's child process.
type serverChild struct {
	server  string // ioloop or gonet
	backend backendFlag
	listen  netip.AddrPort
	// loops is the ioloop server's -loops: more than 1 runs a Group of
	// loops, each on its own thread and SO_REUSEPORT listener.
	loops int
	// pinLoops passes -pin: the server pins loop i to the i-th CPU it may
	// use. The process as a whole is then not pinned (cpu is -1).
	pinLoops bool
	// pool is the ioloop server's -pool: its BufferPool's buffers (per
	// loop), or 0 for the plain Recv/Send variant.
	pool int
	cpu  int // the CPU the whole process is bound to; -1: none
}

// startServerChild starts the server described by c and waits until it
// listens. countSyscalls asks for the system calls to be counted.
func startServerChild(c serverChild, countSyscalls bool, log io.Writer) (*serverProcess, error) {
	server := c.server
	args := []string{"echo", "-server", server, "-addr", c.listen.String()}
	if server == serverIOLoop || server == serverConn {
		args = append(args, "-backend", c.backend.String())
		if c.loops > 1 || c.pinLoops {
			args = append(args, "-loops", strconv.Itoa(c.loops))
		}
		if c.pinLoops {
			args = append(args, "-pin")
		}
		args = append(args, "-pool", strconv.Itoa(c.pool))
	}
	child, err := newChildServer("echo server", args...)
	if err != nil {
		return nil, err
	}
	p := &serverProcess{
		childServer: child, server: server, log: log,
		countSyscalls: countSyscalls, loops: max(c.loops, 1), pool: c.pool,
	}
	if err := p.launch(c.cpu); err != nil {
		return nil, fmt.Errorf("starting the %s echo server: %w", server, err)
	}
	line, err := p.listening()
	if err != nil {
		return nil, err
	}
	if p.addr, p.backend, err = parseListening(line, "server", server); err != nil {
		p.kill()
		return nil, p.failure(err.Error())
	}
	if server == serverIOLoop && !strings.Contains(line+" ", fmt.Sprintf(" loops=%d ", p.loops)) {
		p.kill()
		return nil, p.failure(fmt.Sprintf("printed %q, want loops=%d", line, p.loops))
	}
	if p.meter, err = load.NewServerMeter(p.cmd.Process.Pid); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// stop asks the server to shut down with SIGTERM and checks that it
// exited cleanly after printing its summary. Notes the server printed on
// stderr (such as a backend fallback) are passed on.
func (p *serverProcess) stop() error {
	p.stopped = true
	p.meter.Abandon()
	if err := p.terminate(); err != nil {
		return err
	}
	if !strings.Contains(p.stdout.String(), "\nsummary ") {
		return p.failure("exited without its summary")
	}
	for line := range strings.Lines(p.stderr.String()) {
		fmt.Fprintf(p.log, "# server: %s", strings.TrimPrefix(line, "# "))
	}
	return nil
}

// kill ends a server that stop did not: for the error paths.
func (p *serverProcess) kill() {
	if p.meter != nil {
		p.meter.Abandon()
	}
	p.childServer.kill()
}

// cleanup kills the server unless stop ran: deferred right after start.
func (p *serverProcess) cleanup() {
	if !p.stopped {
		p.kill()
	}
}

// pinning is where `bench echo -server` runs the server and the client:
// CPU numbers, or -1 for no pinning.
type pinning struct {
	server, client int
}

// parsePinning parses -pin: "auto", "none", or "SERVER,CLIENT".
func parsePinning(text string) (pin pinning, auto bool, err error) {
	switch text {
	case "auto":
		return pinning{-1, -1}, true, nil
	case "none":
		return pinning{-1, -1}, false, nil
	}
	serverText, clientText, ok := strings.Cut(text, ",")
	if ok {
		pin.server, err = strconv.Atoi(serverText)
		if err == nil {
			pin.client, err = strconv.Atoi(clientText)
		}
	}
	if !ok || err != nil || pin.server < 0 || pin.client < 0 || pin.server == pin.client {
		return pin, false, fmt.Errorf("want auto, none, or two different CPU numbers SERVER,CLIENT such as 0,1; got %q", text)
	}
	return pin, false, nil
}

// autoPinning puts the server on the first CPU this process may use and
// the client on the second, as taskset would.
// Without two CPUs, or without CPU affinity (outside Linux), it says why on
// log and does not pin.
func autoPinning(log io.Writer) pinning {
	cpus, err := cpuset.Allowed()
	switch {
	case err != nil:
		fmt.Fprintf(log, "# not pinning server and client to CPUs: %v\n", err)
	case len(cpus) < 2:
		fmt.Fprintf(log, "# not pinning server and client to CPUs: only CPU %d is available\n", cpus[0])
	default:
		return pinning{cpus[0], cpus[1]}
	}
	return pinning{-1, -1}
}

// loopPinning is -pin auto with -server-loops n > 1. Binding the whole
// server process to one CPU, as with one loop, would stack every loop on
// that core and measure no scaling at all, so the server instead runs with
// -pin: loop i on the i-th CPU this process may use (the first n). The
// load generator goes to the next CPU, the (n+1)-th, when there is one, so
// that it competes with no loop: the setting in which more loops should
// serve proportionally more. When no CPU is left over (2 loops on a 2-CPU
// machine) the load generator is not pinned and shares the loops' CPUs,
// and a note on log says so: msgs/s is then bounded by the whole machine's
// CPU, shared by server and generator, and the server's CPU per message is
// the figure that compares across loop counts. It returns the loops' CPUs
// (nil: not pinned) and the load generator's CPU (-1: not pinned).
func loopPinning(n int, log io.Writer) (loopCPUs []int, client int) {
	cpus, err := cpuset.Allowed()
	if err != nil {
		fmt.Fprintf(log, "# not pinning the server's loops and the load generator to CPUs: %v\n", err)
		return nil, -1
	}
	loopCPUs = make([]int, n)
	for i := range loopCPUs {
		loopCPUs[i] = cpus[i%len(cpus)] // as GroupOptions.PinCPUs does
	}
	if len(cpus) > n {
		return loopCPUs, cpus[n]
	}
	fmt.Fprintf(log, "# %d server loops pinned to CPUs %s; the load generator is not pinned and shares them (%d CPUs available): "+
		"msgs/s is then the whole machine's, server CPU per message is what compares\n", n, cpuList(loopCPUs), len(cpus))
	return loopCPUs, -1
}

// cpuList prints CPU numbers as "0,1", or "none" for nil.
func cpuList(cpus []int) string {
	if cpus == nil {
		return "none"
	}
	parts := make([]string, len(cpus))
	for i, cpu := range cpus {
		parts[i] = strconv.Itoa(cpu)
	}
	return strings.Join(parts, ",")
}
