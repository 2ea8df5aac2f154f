//go:build !windows

package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/load"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// Value of `bench echo -server` for a server this command does not start.
const serverExternal = "external"

func runBenchEcho(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ioloop bench echo",
		"ioloop bench echo [-addr 127.0.0.1:9000] [-conns 1000] [-size 64] [-duration 5s] [-warmup 1s] [-backend B] [-entries N] [-json]\n"+
			"       ioloop bench echo -server ioloop|gonet|conn [-server-backend B] [-server-loops N] [-server-pool N] [-pin auto|none|S,C] [-syscalls=false] [flags above]", stderr)
	// The default depends on -server, so the flag's own is empty and the
	// usage text states both.
	addrText := fs.String("addr", "", "echo server address, IP:port (default 127.0.0.1:9000); with -server, the address the server listens on "+
		"(default 127.0.0.1:0: any free port)")
	conns := fs.Int("conns", 1000, "connections, each with one message in flight")
	size := fs.Int("size", 64, "message size in bytes")
	duration := fs.Duration("duration", 5*time.Second, "how long to measure")
	warmup := fs.Duration("warmup", time.Second, "how long to run before measuring")
	connectTimeout := fs.Duration("connect-timeout", 30*time.Second, "how long connecting all connections may take")
	lf := addLoopFlags(fs, "submission queue size of the load generator's loop (0: library default)")
	server := newChoiceFlag(serverExternal, serverIOLoop, serverGoNet, serverConn)
	fs.Var(server, "server", "`server` under load: external (already running at -addr), or one this command starts in a child process "+
		"to measure its CPU time per message: ioloop (the echo command, on -server-backend), gonet (Go's net package, a goroutine per connection) "+
		"or conn (the echo command through the connection layer, package conn, on -server-backend)")
	var serverBackend backendFlag
	fs.Var(&serverBackend, "server-backend", "`backend` of the -server ioloop child (-backend is the load generator's): "+backendUsage)
	serverLoops := fs.Int("server-loops", 1, "event loops of the -server ioloop child (its -loops): more than 1 runs a group of loops, "+
		"one per thread and SO_REUSEPORT listener")
	serverPool := fs.Int("server-pool", defaultPoolBuffers, "the -server ioloop child's -pool: buffers of its BufferPool (per loop), "+
		"served by AcceptMultishot and RecvMultishot; 0 runs the plain variant, a buffer per connection and Recv then Send")
	pinText := fs.String("pin", "auto", "with -server, the CPUs of the server and of this load generator: auto (the first two this process may use), none, "+
		"or SERVER,CLIENT such as 0,1. With -server-loops N > 1, auto pins loop i to the i-th CPU and the load generator to CPU N+1 "+
		"when there is one, else leaves the load generator unpinned, sharing the loops' CPUs; S,C does not apply")
	countSyscalls := fs.Bool("syscalls", true, "with -server, then count the server's system calls with perf stat over a second window of -duration "+
		"(perf slows system calls, so it is not attached while CPU time is measured; without perf, a note says so and the field is left out)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := lf.check(fs); !ok {
		return code
	}
	switch server.value {
	case serverExternal:
		if code, ok := rejectFlags(fs, "an external server (see -server)", "server-backend", "server-loops", "server-pool", "pin", "syscalls"); !ok {
			return code
		}
	case serverGoNet:
		if code, ok := rejectFlags(fs, "-server gonet", "server-backend", "server-loops", "server-pool"); !ok {
			return code
		}
	case serverConn:
		if code, ok := rejectFlags(fs, "-server conn", "server-loops"); !ok {
			return code
		}
	}
	if *serverLoops < 1 || *serverLoops > maxEchoLoops {
		return usageError(fs, "-server-loops must be in 1..%d, got %d", maxEchoLoops, *serverLoops)
	}
	if *serverPool < 0 || *serverPool > maxPoolBuffers {
		return usageError(fs, "-server-pool must be in 0..%d, got %d", maxPoolBuffers, *serverPool)
	}
	if server.value == serverGoNet {
		*serverPool = 0
	}
	switch {
	case *addrText != "":
	case server.value == serverExternal:
		*addrText = "127.0.0.1:9000"
	default:
		*addrText = "127.0.0.1:0"
	}
	addr, err := netip.ParseAddrPort(*addrText)
	switch {
	case err != nil:
		return usageError(fs, "-addr must be IP:port, such as 127.0.0.1:9000: %v", err)
	case *conns < 1 || *conns > 1<<20:
		return usageError(fs, "-conns must be in 1..1048576, got %d", *conns)
	case *size < 1 || *size > 1<<24:
		return usageError(fs, "-size must be in 1..16777216, got %d", *size)
	case *duration <= 0:
		return usageError(fs, "-duration must be positive, got %v", *duration)
	case *warmup < 0:
		return usageError(fs, "-warmup must not be negative, got %v", *warmup)
	case *connectTimeout <= 0:
		return usageError(fs, "-connect-timeout must be positive, got %v", *connectTimeout)
	}
	pin, autoPin, err := parsePinning(*pinText)
	if err != nil {
		return usageError(fs, "-pin: %v", err)
	}
	if *serverLoops > 1 && pin.server >= 0 {
		return usageError(fs, "-pin SERVER,CLIENT names one server CPU; with -server-loops %d use auto or none", *serverLoops)
	}
	// One descriptor per connection, plus the ring and the usual few.
	if err := proc.RaiseNoFile(uint64(*conns) + 64); err != nil {
		return fail(stderr, fs.Name(), err)
	}

	var (
		srv      *serverProcess
		loopCPUs []int // with -server-loops > 1, where the loops are pinned
	)
	if server.value != serverExternal {
		switch {
		case autoPin && *serverLoops > 1:
			loopCPUs, pin.client = loopPinning(*serverLoops, stderr)
		case autoPin:
			pin = autoPinning(stderr)
		}
		srv, err = startServerChild(serverChild{
			server: server.value, backend: serverBackend, listen: addr,
			loops: *serverLoops, pinLoops: loopCPUs != nil, pool: *serverPool, cpu: pin.server,
		}, *countSyscalls, stderr)
		if err != nil {
			return fail(stderr, fs.Name(), err)
		}
		defer srv.cleanup()
		addr = srv.addr
		if pin.client >= 0 {
			if err := proc.PinProcess(pin.client); err != nil {
				return fail(stderr, fs.Name(), fmt.Errorf("pinning the load generator: %w", err))
			}
		}
	}
	result, err := runEchoClient(lf.options(), addr, *conns, *size, *connectTimeout, *warmup, *duration, srv, stderr)
	if err != nil {
		return fail(stderr, fs.Name(), err)
	}
	if err := result.report(srv, pin, loopCPUs, stderr).write(stdout, *asJSON); err != nil {
		return fail(stderr, fs.Name(), err)
	}
	return exitOK
}

// runEchoClient runs the load generator against addr, with srv measured
// alongside when there is a server process, and stops srv.
func runEchoClient(opts ioloop.Options, addr netip.AddrPort, conns, size int, connectTimeout, warmup, duration time.Duration,
	srv *serverProcess, stderr io.Writer) (echoResult, error) {
	loop, err := newLoop(opts, stderr)
	if err != nil {
		return echoResult{}, err
	}
	cfg := load.EchoConfig{ConnectTimeout: connectTimeout, Warmup: warmup, Duration: duration, Progress: stderr}
	if srv != nil {
		cfg.Server = srv.meter
		if srv.countSyscalls {
			cfg.SyscallWindow = duration
		}
	}
	cl := load.NewEchoClient(loop, addr, conns, size)
	res, runErr := load.RunEcho(cl, size, cfg)
	closeErr := cl.Close()
	if srv != nil && srv.meter.SyscallsErr != nil {
		fmt.Fprintf(stderr, "# not counting the server's system calls: %v\n", srv.meter.SyscallsErr)
	}
	var stopErr error
	if srv != nil {
		stopErr = srv.stop()
	}
	return echoResult{EchoResult: res, backend: loop.Backend().String()}, errors.Join(runErr, closeErr, stopErr)
}

// report formats the result: the load generator's alone (echo_client), or
// with the server process's measurements (echo_server).
// With more than one server loop, loopCPUs are the loops' CPUs (nil: not
// pinned) and server_cpus replaces server_cpu.
func (res echoResult) report(srv *serverProcess, pin pinning, loopCPUs []int, stderr io.Writer) *report {
	clientUtil := res.Interval.Utilization(res.Interval.CPU.Total())
	var r *report
	if srv == nil {
		r = newReport("echo_client").str("backend", res.backend)
		res.addRate(r)
	} else {
		serverCPU := srv.meter.CPU.Total()
		serverUtil := res.Interval.Utilization(serverCPU)
		r = newReport("echo_server").str("server", srv.server).str("server_backend", srv.backend).int("server_pool", int64(srv.pool)).str("client_backend", res.backend)
		res.addRate(r)
		r.float("cpu_us_per_msg", proc.MicrosPer(serverCPU, res.Messages), 3).float("server_cpu_util", serverUtil, 2)
		if srv.meter.Syscalls >= 0 && res.SyscallWindowMessages > 0 {
			r.float("syscalls_per_msg", float64(srv.meter.Syscalls)/float64(res.SyscallWindowMessages), 4)
		}
		warnIfClientBound(stderr, clientUtil, serverUtil)
	}
	r.float("client_cpu_us_per_msg", res.Interval.CPUMicrosPer(res.Messages), 3).float("client_cpu_util", clientUtil, 2)
	if srv != nil {
		if srv.loops > 1 {
			r.int("server_loops", int64(srv.loops)).str("server_cpus", cpuList(loopCPUs))
		} else {
			r.int("server_cpu", int64(pin.server))
		}
		r.int("client_cpu", int64(pin.client))
	}
	return r
}

// warnIfClientBound notes on stderr when the load generator, not the
// server, was the busier process: the message rate is then the load
// generator's limit, and the server's CPU per message is measured below
// saturation, where an event loop batches less.
func warnIfClientBound(stderr io.Writer, clientUtil, serverUtil float64) {
	if clientUtil >= 0.9 && serverUtil < 0.9 {
		fmt.Fprintf(stderr, "# note: the load generator used %.0f%% of its CPU and the server %.0f%% of its own: the rate is probably the load generator's limit\n",
			100*clientUtil, 100*serverUtil)
	}
}

// echoResult is what the load generator measured, and on which backend.
type echoResult struct {
	load.EchoResult
	backend string // the load generator's
}

// addRate adds the fields every echo report shares.
func (res echoResult) addRate(r *report) {
	r.int("conns", int64(res.Conns)).
		int("size", int64(res.Size)).
		float("msgs_per_sec", res.Interval.PerSecond(res.Messages), 0).
		float("p50_us", float64(res.P50)/1e3, 1).
		float("p99_us", float64(res.P99)/1e3, 1)
}
