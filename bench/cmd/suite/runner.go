package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ioloop/ioloop/bench/internal/dispatch"
	"github.com/ioloop/ioloop/bench/internal/echo"
	"github.com/ioloop/ioloop/bench/internal/files"
	"github.com/ioloop/ioloop/bench/internal/results"
	"github.com/ioloop/ioloop/bench/internal/timers"
	"github.com/ioloop/ioloop/bench/internal/udp"
	"github.com/ioloop/ioloop/internal/benchkit/perf"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
	"github.com/ioloop/ioloop/internal/cpuset"
)

// runner runs the steps of the suite, each in child processes, and
// collects their results in doc.
type runner struct {
	cfg       config
	exe       string
	doc       *results.Doc
	cpus      []int // the CPUs the suite may use (empty: unknown)
	serverCPU []int // where servers and the NOP loop run (empty: anywhere)
	clientCPU []int // where the load generator runs
	perfOK    bool
	perfWhy   string
	fioOK     bool
	steps     []step
	began     time.Time
}

// step is one measured run: label says what it is, and run measures it,
// stores the result and returns a short summary for the progress line.
type step struct {
	label string
	run   func() (string, error)
}

func newRunner(cfg config, quick bool, reps int, workloads []string) (*runner, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, exe: exe, doc: &results.Doc{}}
	r.doc.Meta = describeMachine()
	r.doc.Meta.Quick, r.doc.Meta.Reps, r.doc.Meta.Workloads = quick, reps, workloads
	r.doc.Meta.Command = "cd bench && go run ./cmd/suite " + strings.Join(os.Args[1:], " ")
	r.doc.Meta.ServerCPU, r.doc.Meta.ClientCPU = -1, -1
	cpus, err := cpuset.Allowed()
	r.cpus = cpus
	if err != nil || len(cpus) < 2 {
		r.note("fewer than 2 CPUs: servers and load generator are not pinned apart, echo numbers mean little")
	} else {
		r.serverCPU, r.clientCPU = cpus[:1], cpus[1:2]
		r.doc.Meta.ServerCPU, r.doc.Meta.ClientCPU = cpus[0], cpus[1]
	}
	if r.perfOK, r.perfWhy = perf.Check(); r.perfOK {
		r.doc.Meta.Perf = "perf stat -e " + perf.SyscallEvent
	} else {
		r.doc.Meta.Perf = "n/a (" + r.perfWhy + ")"
	}
	r.doc.Meta.Fio, r.fioOK = files.FioVersion()
	if !r.fioOK && slices.Contains(workloads, "reads") {
		r.note("fio skipped in the read workload: " + r.doc.Meta.Fio)
	}
	r.doc.Meta.ReadFile = cfg.readFile
	r.doc.Meta.Settings = cfg.describe()
	for rep := 1; rep <= reps; rep++ {
		for _, w := range workloads {
			r.plan(w, rep)
		}
	}
	return r, nil
}

func (r *runner) note(s string) {
	r.doc.Notes = append(r.doc.Notes, s)
	fmt.Fprintln(os.Stderr, "note:", s)
}

func (r *runner) add(label string, run func() (string, error)) {
	r.steps = append(r.steps, step{label, run})
}

// run runs every step, printing progress, and records failures.
func (r *runner) run() {
	r.began = time.Now()
	for i, s := range r.steps {
		stepBegan := time.Now()
		fmt.Fprintf(os.Stderr, "[%2d/%d %5s] %s ... ", i+1, len(r.steps), clock(time.Since(r.began)), s.label)
		summary, err := s.run()
		if err != nil {
			r.doc.Failures = append(r.doc.Failures, s.label+": "+err.Error())
			fmt.Fprintf(os.Stderr, "FAILED: %v\n", err)
			continue
		}
		fmt.Fprintf(os.Stderr, "%s (%.1fs)\n", summary, time.Since(stepBegan).Seconds())
	}
}

func clock(d time.Duration) string {
	s := int(d.Seconds())
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// plan adds the steps of one workload, for one repetition. Contenders
// alternate within each configuration, so that a slow phase of a shared
// machine hits all of them, not one.
func (r *runner) plan(workload string, rep int) {
	c := r.cfg
	switch workload {
	case "echo":
		for _, conns := range c.echoConns {
			for _, size := range c.echoSizes {
				for _, impl := range echo.Servers {
					r.add(fmt.Sprintf("echo %s %d conns × %d B", impl, conns, size), func() (string, error) {
						return r.echoRun(impl, conns, size, rep)
					})
				}
			}
		}
	case "memory":
		for _, impl := range echo.Servers {
			r.add(fmt.Sprintf("memory %s %d idle conns", impl, c.idleConns), func() (string, error) {
				return r.memoryRun(impl, rep)
			})
		}
	case "dispatch":
		for _, batch := range c.nopBatches {
			for _, impl := range dispatch.Contenders {
				r.add(fmt.Sprintf("dispatch %s batch %d", impl, batch), func() (string, error) {
					var res results.Dispatch
					err := r.child(r.serverCPU, c.nopDuration+time.Minute, &res.Result, "nop",
						"-impl", impl, "-batch", strconv.Itoa(batch), "-duration", c.nopDuration.String())
					res.Contender, res.Batch, res.Rep = impl, batch, rep
					r.doc.Dispatch = append(r.doc.Dispatch, res)
					return fmt.Sprintf("%.2f M NOPs/s, %.0f ns CPU/NOP", res.OpsPerSec/1e6, res.CPUnsPerOp), err
				})
			}
		}
	case "reads":
		r.add("reads: test file "+c.readFile, func() (string, error) {
			return "ready", files.EnsureFile(c.readFile, c.readFileSize, os.Stderr)
		})
		engines := files.ReadContenders
		if r.fioOK {
			engines = append(engines[:len(engines):len(engines)], "fio")
		}
		for _, qd := range c.readQDs {
			for _, impl := range engines {
				r.add(fmt.Sprintf("reads %s QD %d", impl, qd), func() (string, error) {
					return r.readRun(impl, qd, rep)
				})
			}
		}
	case "wal":
		for _, n := range c.walNs {
			for _, method := range files.WALMethods {
				for _, engine := range files.WALEngines {
					if !files.WALRuns(engine, method, n) {
						continue
					}
					r.add(fmt.Sprintf("wal %s %s N=%d", engine, method, n), func() (string, error) {
						res := results.WAL{Contender: engine, Method: method, N: n, Rep: rep}
						err := r.child(nil, c.walDuration+time.Minute, &res.WALResult, "wal",
							"-impl", engine, "-method", method, "-n", strconv.Itoa(n),
							"-dir", filepath.Dir(c.readFile), "-duration", c.walDuration.String())
						if err != nil {
							return "", err // no row of zeros in the medians
						}
						r.doc.WAL = append(r.doc.WAL, res)
						return fmt.Sprintf("%.1fk durable writes/s, %.1f µs CPU/write, p99 %.0f µs",
							res.WritesPerSec/1e3, res.CPUusPerWrite, res.P99us), nil
					})
				}
			}
		}
	case "scaling":
		// Loop counts alternate within each connection count, so that a
		// slow phase of a shared machine hits all of them.
		for _, conns := range c.scalingConns {
			for loops := 1; loops <= max(len(r.cpus), 1); loops++ {
				r.add(fmt.Sprintf("scaling ioloop-io_uring %d loops %d conns × %d B", loops, conns, c.scalingSize), func() (string, error) {
					return r.scalingRun(loops, conns, c.scalingSize, rep)
				})
			}
		}
	case "udp":
		for _, clients := range c.udpClients {
			for _, impl := range udp.Contenders {
				r.add(fmt.Sprintf("udp %s %d clients × %d in flight × %d B", impl, clients, c.udpInFlight, c.udpSize), func() (string, error) {
					return r.udpRun(impl, clients, rep)
				})
			}
		}
	case "kv":
		r.planKV(rep)
	case "http":
		r.planHTTP(rep)
	case "timers":
		for _, burst := range []bool{false, true} {
			n, span, args := c.timers, c.timerSpan, []string(nil)
			if burst {
				n, span, args = c.burstTimers, c.burstSpan, []string{"-burst"}
			}
			for _, impl := range timers.Contenders {
				r.add(fmt.Sprintf("timers %s %d over %v%s", impl, n, span, map[bool]string{true: ", burst"}[burst]), func() (string, error) {
					var res results.Timer
					err := r.child(nil, span+2*time.Minute, &res.Result,
						append([]string{"timers", "-impl", impl, "-n", strconv.Itoa(n), "-span", span.String()}, args...)...)
					res.Contender, res.Rep = impl, rep
					r.doc.Timers = append(r.doc.Timers, res)
					return fmt.Sprintf("%.0f ms total, %.0f ns CPU/timer, p99 %.0f µs late, max %.0f µs, %d early",
						res.TotalMs, res.CPUnsPerTimer, res.LateP99us, res.LateMaxus, res.EarlyFires), err
				})
			}
		}
	}
}

func (r *runner) echoRun(impl string, conns, size, rep int) (string, error) {
	c := r.cfg
	perfWindow := c.perfWindow
	if !r.perfOK {
		perfWindow = 0
	}
	res := results.Echo{Contender: impl, Conns: conns, Size: size, Rep: rep}
	err := r.withServer(impl, conns, r.serverCPU, nil, func(addr netip.AddrPort, pid int) error {
		return r.child(r.clientCPU, c.warmup+c.window+perfWindow+2*time.Minute, &res.LoadResult, "client",
			"-addr", addr.String(), "-conns", strconv.Itoa(conns), "-size", strconv.Itoa(size),
			"-server-pid", strconv.Itoa(pid), "-nofile", strconv.Itoa(conns+100),
			"-warmup", c.warmup.String(), "-window", c.window.String(), "-perf-window", perfWindow.String())
	})
	if err != nil {
		return "", err
	}
	if !r.perfOK {
		res.SyscallsNote = "n/a (" + r.perfWhy + ")"
	}
	r.doc.Echo = append(r.doc.Echo, res)
	if res.ClientCPUUtil >= 0.9 && res.ServerCPUUtil < 0.9 {
		r.note(fmt.Sprintf("echo %s %d conns × %d B: the load generator was busier (CPU %.2f) than the server (%.2f): the rate may be the load generator's limit",
			impl, conns, size, res.ClientCPUUtil, res.ServerCPUUtil))
	}
	calls := "syscalls n/a"
	if res.SyscallsPerMsg != nil {
		calls = fmt.Sprintf("%.3f syscalls/msg", *res.SyscallsPerMsg)
	}
	return fmt.Sprintf("%.1fk msgs/s, p99 %.0f µs, %.2f µs srv CPU/msg, %s, util srv %.2f client %.2f",
		res.MsgsPerSec/1e3, res.P99us, res.ServerCPUusPerMsg, calls, res.ServerCPUUtil, res.ClientCPUUtil), nil
}

// udpRun measures UDP echo server impl against clients sockets, each
// with the configured datagrams in flight: the echo workload's setting
// (server on the first CPU, load generator on the second) and the same
// measurement of the server (see package udp).
func (r *runner) udpRun(impl string, clients, rep int) (string, error) {
	c := r.cfg
	perfWindow := c.perfWindow
	if !r.perfOK {
		perfWindow = 0
	}
	res := results.UDP{Contender: impl, Clients: clients, InFlight: c.udpInFlight, Size: c.udpSize, Rep: rep}
	serverArgs := []string{"-udp"}
	if udp.HasDepth(impl) {
		res.Depth = c.udpDepth
		serverArgs = append(serverArgs, "-depth", strconv.Itoa(c.udpDepth))
	}
	err := r.withServer(impl, clients, r.serverCPU, serverArgs, func(addr netip.AddrPort, pid int) error {
		return r.child(r.clientCPU, c.warmup+c.window+perfWindow+2*time.Minute, &res.Result, "udpclient",
			"-addr", addr.String(), "-conns", strconv.Itoa(clients), "-inflight", strconv.Itoa(c.udpInFlight),
			"-size", strconv.Itoa(c.udpSize), "-server-pid", strconv.Itoa(pid), "-nofile", strconv.Itoa(clients+100),
			"-warmup", c.warmup.String(), "-window", c.window.String(), "-perf-window", perfWindow.String())
	})
	if err != nil {
		return "", err
	}
	if !r.perfOK {
		res.SyscallsNote = "n/a (" + r.perfWhy + ")"
	}
	r.doc.UDP = append(r.doc.UDP, res)
	calls := "syscalls n/a"
	if res.SyscallsPerMsg != nil {
		calls = fmt.Sprintf("%.3f syscalls/msg", *res.SyscallsPerMsg)
	}
	return fmt.Sprintf("%.1fk msgs/s, p99 %.0f µs, %.2f µs srv CPU/msg, %s, util srv %.2f client %.2f, %d lost",
		res.MsgsPerSec/1e3, res.P99us, res.ServerCPUusPerMsg, calls, res.ServerCPUUtil, res.ClientCPUUtil, res.Lost), nil
}

// scalingRun measures the ioloop echo server as a group of loops loops.
// Loop i runs pinned to the i-th CPU (the server process is bound to the
// first loops CPUs, and the group pins each loop's thread within them), so
// one loop is the echo workload's setting (server on the first CPU, load
// generator on the second). The load generator goes to the CPU after the
// loops' when there is one; when there is not (as many loops as CPUs, on
// a 2-CPU machine already at 2 loops) it runs unpinned and shares the
// loops' CPUs, which caps the rate at what the whole machine does for
// server and generator together: server CPU per message is then the
// figure that compares across loop counts.
func (r *runner) scalingRun(loops, conns, size, rep int) (string, error) {
	c := r.cfg
	const impl = "ioloop-io_uring"
	var serverCPUs, clientCPU []int
	res := results.Scaling{Contender: impl, Loops: loops, Conns: conns, Size: size, Rep: rep, ClientCPU: -1}
	if len(r.cpus) >= loops {
		serverCPUs = r.cpus[:loops]
		res.ServerCPUs = serverCPUs
	}
	if len(r.cpus) > loops {
		clientCPU = r.cpus[loops : loops+1]
		res.ClientCPU = clientCPU[0]
	}
	serverArgs := []string{"-loops", strconv.Itoa(loops)}
	if serverCPUs != nil {
		serverArgs = append(serverArgs, "-pin")
	}
	err := r.withServer(impl, conns, serverCPUs, serverArgs, func(addr netip.AddrPort, pid int) error {
		return r.child(clientCPU, c.warmup+c.window+2*time.Minute, &res.LoadResult, "client",
			"-addr", addr.String(), "-conns", strconv.Itoa(conns), "-size", strconv.Itoa(size),
			"-server-pid", strconv.Itoa(pid), "-nofile", strconv.Itoa(conns+100),
			"-warmup", c.warmup.String(), "-window", c.window.String(), "-perf-window", "0s")
	})
	if err != nil {
		return "", err
	}
	r.doc.Scaling = append(r.doc.Scaling, res)
	return fmt.Sprintf("%.1fk msgs/s, p99 %.0f µs, %.2f µs srv CPU/msg, %.2f µs client CPU/msg, util srv %.2f client %.2f",
		res.MsgsPerSec/1e3, res.P99us, res.ServerCPUusPerMsg, res.ClientCPUusPerMsg, res.ServerCPUUtil, res.ClientCPUUtil), nil
}

func (r *runner) memoryRun(impl string, rep int) (string, error) {
	c := r.cfg
	res := results.Memory{Contender: impl, Rep: rep}
	err := r.withServer(impl, c.idleConns, r.serverCPU, nil, func(addr netip.AddrPort, pid int) error {
		return r.child(r.clientCPU, c.idleSettle+2*time.Minute, &res.IdleResult, "client", "-idle",
			"-addr", addr.String(), "-conns", strconv.Itoa(c.idleConns), "-size", "64",
			"-server-pid", strconv.Itoa(pid), "-nofile", strconv.Itoa(c.idleConns+100), "-settle", c.idleSettle.String())
	})
	if err != nil {
		return "", err
	}
	r.doc.Memory = append(r.doc.Memory, res)
	return fmt.Sprintf("%.2f KiB/conn (RSS %.1f -> %.1f MiB)", res.BytesPerConn/1024,
		float64(res.BaselineBytes)/(1<<20), float64(res.LoadedBytes)/(1<<20)), nil
}

func (r *runner) readRun(impl string, qd, rep int) (string, error) {
	c := r.cfg
	res := results.Read{Contender: impl, QD: qd, Rep: rep}
	var err error
	if impl == "fio" {
		res.ReadResult, err = files.RunFio(c.readFile, qd, c.readDuration, os.TempDir())
	} else {
		err = r.child(nil, c.readDuration+time.Minute, &res.ReadResult, "read",
			"-impl", impl, "-file", c.readFile, "-qd", strconv.Itoa(qd), "-duration", c.readDuration.String())
	}
	if err != nil {
		return "", err
	}
	r.doc.Reads = append(r.doc.Reads, res)
	return fmt.Sprintf("%.1fk IOPS, %.2f µs CPU/IO", res.IOPS/1e3, res.CPUusPerIO), nil
}

// child runs this binary as `child ARGS...` bound to cpus, within limit,
// and decodes the JSON it prints into out.
func (r *runner) child(cpus []int, limit time.Duration, out any, args ...string) error {
	cmd := exec.Command(r.exe, append([]string{"child"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := proc.StartPinned(cmd, cpus); err != nil {
		return err
	}
	if err := proc.WaitTimeout(cmd, limit); err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return fmt.Errorf("child printed %q: %w", stdout.String(), err)
	}
	return nil
}

// withServer starts echo server impl (with extra arguments for its
// child) bound to cpus, runs fn against it, and kills it.
func (r *runner) withServer(impl string, conns int, cpus []int, extra []string, fn func(addr netip.AddrPort, pid int) error) error {
	args := append([]string{"child", "server", "-impl", impl, "-nofile", strconv.Itoa(conns + 100)}, extra...)
	cmd := exec.Command(r.exe, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := proc.StartPinned(cmd, cpus); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	addr, err := awaitListening(stdout, exited)
	if err != nil {
		return fmt.Errorf("echo server %s: %w: %s", impl, err, strings.TrimSpace(stderr.String()))
	}
	if err := fn(addr, cmd.Process.Pid); err != nil {
		return err
	}
	select {
	case err := <-exited:
		exited <- err
		return fmt.Errorf("echo server %s died during the run (%v): %s", impl, err, strings.TrimSpace(stderr.String()))
	default:
	}
	return nil
}

// awaitListening reads the server's "listening ADDR" line.
func awaitListening(stdout io.Reader, exited chan error) (netip.AddrPort, error) {
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "listening ")
		if !ok {
			return netip.AddrPort{}, fmt.Errorf("printed %q instead of \"listening ADDR\"", s)
		}
		return netip.ParseAddrPort(addr)
	case err := <-exited:
		exited <- err
		return netip.AddrPort{}, fmt.Errorf("exited before listening (%v)", err)
	case <-time.After(10 * time.Second):
		return netip.AddrPort{}, errors.New("not listening after 10 s")
	}
}
