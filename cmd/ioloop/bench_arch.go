//go:build !windows

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
	"github.com/ioloop/ioloop/internal/cpuset"
)

// `ioloop bench arch` compares the two ways beyond one thread that
// TigerBeetle's I/O article names, on a request/response workload whose
// requests each cost a calibrated amount of CPU on the server:
//
//   - percore: a Group of loops, one per CPU, each with its own
//     SO_REUSEPORT listener (ListenTCPShards), doing the work inline in its
//     Recv callback. No cross-thread traffic at all.
//   - pool: one loop does all the I/O and hands each request to a pool of
//     worker goroutines through a bounded channel; the worker does the
//     work and hands the reply back with ioloop.Post, and the loop sends
//     it. Two cross-thread hand-offs per request.
//   - single: one loop doing the work inline: the baseline both improve on.
//
// The server runs in a child process (this binary, `bench arch -serve`),
// so that its CPU time can be read from /proc without the load
// generator's; the load generator is one ioloop loop in this process.

// Architectures and work distributions.
const (
	archPerCore = "percore"
	archPool    = "pool"
	archSingle  = "single"

	distEven   = "even"
	distUneven = "uneven"
)

// The wire format, little-endian. A request is the request id (uint64),
// the work it asks for in nanoseconds (uint32) and the client's
// connection index (uint32); the reply is the request followed by the
// result of the work (uint64), so the client can check that each reply
// answers its own request and the work cannot be optimized away.
const (
	archRequestSize = 16
	archReplySize   = archRequestSize + 8
)

// The uneven distribution: every unevenEvery-th request the client issues
// costs unevenFactor times the work, the others the work itself. So 5% of
// the requests carry half of the CPU time (the mean request costs 1.95×
// the work), which is the shape that hurts a loop doing work inline: a
// heavy request stalls every other connection of its loop for 20× the
// usual time. A deterministic pattern rather than a random draw keeps runs
// comparable.
const (
	unevenEvery  = 20
	unevenFactor = 20
)

// maxWork bounds the work of one request, as the server checks it: a
// request asking for more is a protocol error, not a reason to stall.
const maxWork = time.Second

// durationsFlag is a flag.Value for a comma-separated list of durations,
// such as 0,20us,100us.
type durationsFlag []time.Duration

func (f *durationsFlag) String() string {
	parts := make([]string, len(*f))
	for i, d := range *f {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

func (f *durationsFlag) Set(text string) error {
	var values []time.Duration
	for v := range strings.SplitSeq(text, ",") {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		if d < 0 || d*unevenFactor > maxWork {
			return fmt.Errorf("%v: work must be in 0..%v", d, maxWork/unevenFactor)
		}
		values = append(values, d)
	}
	*f = values
	return nil
}

func runBenchArch(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ioloop bench arch",
		"ioloop bench arch [-arch percore,pool,single] [-dist even,uneven] [-work 0,20us,100us] [-reps 3] [-conns 64]\n"+
			"       [-loops N] [-workers N] [-duration 2s] [-warmup 500ms] [-backend B] [-entries N] [-json] [-markdown]", stderr)
	archs := &listFlag{values: []string{archPerCore, archPool, archSingle}, choices: []string{archPerCore, archPool, archSingle}}
	fs.Var(archs, "arch", "server `architectures`, comma-separated: percore (a Group of -loops loops, SO_REUSEPORT, work inline), "+
		"pool (one I/O loop, -workers goroutines do the work, replies return by ioloop.Post), single (one loop, work inline)")
	dists := &listFlag{values: []string{distEven, distUneven}, choices: []string{distEven, distUneven}}
	fs.Var(dists, "dist", fmt.Sprintf("work `distributions`, comma-separated: even (every request costs -work) or uneven "+
		"(every %dth request costs %d× -work; skipped where -work is 0)", unevenEvery, unevenFactor))
	works := &durationsFlag{0, 20 * time.Microsecond, 100 * time.Microsecond}
	fs.Var(works, "work", "server CPU `work` per request, comma-separated durations (a calibrated busy loop)")
	reps := fs.Int("reps", 3, "repetitions of the whole matrix, interleaved; the summary lines give medians")
	conns := fs.Int("conns", 64, "client connections, each with one request in flight")
	defaultCPUs := runtime.NumCPU()
	if cpus, err := cpuset.Allowed(); err == nil {
		defaultCPUs = len(cpus)
	}
	loops := fs.Int("loops", defaultCPUs, "percore: loops in the group; the default is one per CPU this process may use")
	workers := fs.Int("workers", 0, "pool: worker goroutines (0: as many as -loops)")
	procs := fs.Int("server-procs", 0, "GOMAXPROCS of the server processes (0: Go's default, the CPUs available); "+
		"the pool's workers and its loop's locked thread share these Ps")
	maxConns := fs.Int("max-conns", 4096, "pool: connections the server serves at once, which sizes its job channel and inbox so neither can fill")
	duration := fs.Duration("duration", 2*time.Second, "how long to measure each run")
	warmup := fs.Duration("warmup", 500*time.Millisecond, "how long to run before measuring")
	lf := addLoopFlags(fs, "submission queue size of the client's and the server's loops (0: library default)")
	asJSON := fs.Bool("json", false, "print results as JSON objects")
	markdown := fs.Bool("markdown", false, "also print the medians as a Markdown table")
	serve := fs.String("serve", "", "internal: run only the server of this `architecture` until SIGTERM (the child each run starts)")
	addrText := fs.String("addr", "127.0.0.1:0", "with -serve, the address to listen on")
	spinPerNs := fs.Float64("spin-per-ns", 0, "with -serve, busy-loop rounds per nanosecond of work (0: calibrate)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := lf.check(fs); !ok {
		return code
	}
	switch {
	case *reps < 1 || *reps > 100:
		return usageError(fs, "-reps must be in 1..100, got %d", *reps)
	case *conns < 1 || *conns > 1<<16:
		return usageError(fs, "-conns must be in 1..65536, got %d", *conns)
	case *loops < 1 || *loops > 1024:
		return usageError(fs, "-loops must be in 1..1024, got %d", *loops)
	case *procs < 0 || *procs > 1024:
		return usageError(fs, "-server-procs must be in 0..1024, got %d", *procs)
	case *workers < 0 || *workers > 1024:
		return usageError(fs, "-workers must be in 0..1024, got %d", *workers)
	case *maxConns < 1 || *maxConns > ioloop.MaxInboxEntries:
		return usageError(fs, "-max-conns must be in 1..%d, got %d", ioloop.MaxInboxEntries, *maxConns)
	case *duration <= 0 || *warmup < 0:
		return usageError(fs, "-duration must be positive and -warmup not negative")
	case *spinPerNs < 0:
		return usageError(fs, "-spin-per-ns must not be negative")
	case len(archs.values) == 0 || len(dists.values) == 0 || len(*works) == 0:
		return usageError(fs, "-arch, -dist and -work need at least one value each")
	}
	if *workers == 0 {
		*workers = *loops
	}
	if *spinPerNs == 0 {
		*spinPerNs = calibrateSpin()
	}
	cfg := archServerConfig{loops: *loops, workers: *workers, maxConns: *maxConns, spinPerNs: *spinPerNs, procs: *procs,
		loop: ioloop.Options{Backend: lf.backend.Backend, Entries: uint32(lf.entries)}}

	if *serve != "" {
		addr, err := netip.ParseAddrPort(*addrText)
		if err != nil {
			return usageError(fs, "-addr must be IP:port: %v", err)
		}
		cfg.arch = *serve
		return serveArch(cfg, addr, stdout, stderr)
	}
	if code, ok := rejectFlags(fs, "the benchmark (only -serve)", "addr"); !ok {
		return code
	}
	if err := proc.RaiseNoFile(uint64(*conns) + 64); err != nil {
		return fail(stderr, fs.Name(), err)
	}
	fmt.Fprintf(stderr, "# busy loop: %.3f rounds/ns; server and client share this machine's %d CPUs, unpinned\n", *spinPerNs, runtime.NumCPU())

	// The matrix, in the order each repetition runs it: all cells once,
	// then again, so that slow phases of a noisy machine spread over every
	// cell instead of landing on one.
	var cells []*archCell
	for _, work := range *works {
		for _, dist := range dists.values {
			if dist == distUneven && work == 0 {
				continue // 20 × 0 is 0: the same as even
			}
			for _, arch := range archs.values {
				cells = append(cells, &archCell{arch: arch, dist: dist, work: work})
			}
		}
	}
	if len(cells) == 0 {
		return usageError(fs, "nothing to run: -dist uneven alone needs a -work above 0")
	}
	for rep := range *reps {
		for _, cell := range cells {
			run, err := runArchCell(cell, cfg, lf, *conns, *warmup, *duration, stderr)
			if err != nil {
				return fail(stderr, fs.Name(), fmt.Errorf("%s/%s/%v: %w", cell.arch, cell.dist, cell.work, err))
			}
			cell.runs = append(cell.runs, run)
			r := cellReport("arch_run", cell, cfg, *conns).int("rep", int64(rep+1))
			addArchRun(r, run)
			r.int("post_retries", run.postRetries)
			if err := r.write(stdout, *asJSON); err != nil {
				return fail(stderr, fs.Name(), err)
			}
		}
	}
	for _, cell := range cells {
		r := cellReport("arch", cell, cfg, *conns).int("reps", int64(len(cell.runs)))
		addArchRun(r, medianRun(cell.runs))
		if err := r.write(stdout, *asJSON); err != nil {
			return fail(stderr, fs.Name(), err)
		}
	}
	if *markdown {
		if err := writeArchTable(stdout, cells); err != nil {
			return fail(stderr, fs.Name(), err)
		}
	}
	return exitOK
}

// runArchCell measures one run: a fresh server process, then the client.
func runArchCell(cell *archCell, cfg archServerConfig, lf *loopFlags, conns int, warmup, duration time.Duration, stderr io.Writer) (archRun, error) {
	cfg.arch = cell.arch
	srv, err := startArchServerProcess(cfg, lf.backend)
	if err != nil {
		return archRun{}, err
	}
	var serverCPU time.Duration
	res, err := runArchClient(lf.options(), srv.addr, conns, cell.work, cell.dist, warmup, duration, srv.cpuProbe(&serverCPU), stderr)
	if err != nil {
		srv.kill()
		return archRun{}, errors.Join(err, srv.failure("was serving"))
	}
	st, err := srv.stop()
	if err != nil {
		return archRun{}, err
	}
	if st.postDropped > 0 || st.rejected > 0 {
		return archRun{}, fmt.Errorf("the server dropped %d replies and rejected %d connections", st.postDropped, st.rejected)
	}
	run := archRun{
		reqsPerSec: res.iv.PerSecond(res.requests),
		p50:        float64(res.p50) / 1e3, p99: float64(res.p99) / 1e3, light: float64(res.light) / 1e3,
		clientCPU: res.iv.CPUMicrosPer(res.requests), serverCPU: -1, serverUtil: -1,
		clientUtil:  res.iv.Utilization(res.iv.CPU.Total()),
		otherUtil:   -1,
		postRetries: st.postRetries,
	}
	if serverCPU >= 0 {
		run.serverCPU = proc.MicrosPer(serverCPU, res.requests)
		run.serverUtil = res.iv.Utilization(serverCPU)
		if res.machineCPU >= 0 {
			// /proc's 10 ms ticks can make this slightly negative.
			run.otherUtil = max(0, res.iv.Utilization(res.machineCPU-serverCPU-res.iv.CPU.Total()))
		}
	}
	return run, nil
}

// Ensure flag.Value implementations.
var (
	_ flag.Value = (*listFlag)(nil)
	_ flag.Value = (*durationsFlag)(nil)
)
