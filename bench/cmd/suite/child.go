package main

import (
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"os"

	"github.com/ioloop/ioloop/bench/internal/dispatch"
	"github.com/ioloop/ioloop/bench/internal/echo"
	"github.com/ioloop/ioloop/bench/internal/files"
	"github.com/ioloop/ioloop/bench/internal/httpbench"
	"github.com/ioloop/ioloop/bench/internal/timers"
	"github.com/ioloop/ioloop/bench/internal/udp"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// runChild is a child process: one server, or one measured run that
// prints its result as JSON on stdout.
//
//	child server -impl I -nofile N [-loops N [-pin]] [-udp [-depth N]]
//	child client -addr A -conns N -size S -server-pid P -warmup D -window D -perf-window D [-idle -settle D]
//	child httpserver -impl I -addr A
//	child udpclient -addr A -conns N -inflight W -size S -server-pid P -warmup D -window D -perf-window D
//	child nop    -impl I -batch N -duration D
//	child read   -impl I -file F -qd N -duration D
//	child wal    -impl I -method M -n N -dir DIR -duration D
//	child timers -impl I -n N -span D [-burst]
func runChild(args []string) error {
	if len(args) == 0 {
		return errors.New("missing child kind")
	}
	fs := flag.NewFlagSet("child "+args[0], flag.ContinueOnError)
	impl := fs.String("impl", "", "contender")
	loops := fs.Int("loops", 0, "server: run the ioloop server as a group of this many loops (0: one loop, no group)")
	pin := fs.Bool("pin", false, "server with -loops: pin loop i to the i-th CPU of the process")
	udpServer := fs.Bool("udp", false, "server: run the UDP echo server impl (package udp) instead of the TCP one")
	depth := fs.Int("depth", 0, "server with -udp: the ioloop server's receives in flight (0: udp.DefaultDepth)")
	inFlight := fs.Int("inflight", 0, "udpclient: datagrams in flight per socket")
	nofile := fs.Uint64("nofile", 0, "file descriptors needed")
	addr := fs.String("addr", "", "server address")
	conns := fs.Int("conns", 0, "connections")
	size := fs.Int("size", 0, "message size")
	serverPID := fs.Int("server-pid", 0, "server process")
	warmup := fs.Duration("warmup", 0, "load before measuring")
	window := fs.Duration("window", 0, "measured window")
	perfWindow := fs.Duration("perf-window", 0, "system call counting window (0: none)")
	idle := fs.Bool("idle", false, "memory workload: one round trip per connection, then idle")
	settle := fs.Duration("settle", 0, "idle time before the memory is read")
	batch := fs.Int("batch", 0, "NOPs in flight")
	duration := fs.Duration("duration", 0, "measured duration")
	file := fs.String("file", "", "test file")
	qd := fs.Int("qd", 0, "queue depth")
	dir := fs.String("dir", "", "directory for the log")
	method := fs.String("method", "", "wal: how appends are made durable")
	n := fs.Int("n", 0, "timers; wal: appends in flight")
	span := fs.Duration("span", 0, "timer durations are uniform in [0, span)")
	burst := fs.Bool("burst", false, "timers: schedule them all from one callback")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *nofile > 0 {
		if err := proc.RaiseNoFile(*nofile); err != nil {
			return err
		}
	}
	var (
		res any
		err error
	)
	switch args[0] {
	case "server":
		if *udpServer {
			if *loops > 0 || *pin {
				return errors.New("-loops and -pin do not apply to -udp")
			}
			return udp.Serve(*impl, *depth)
		}
		return echo.Serve(*impl, *loops, *pin)
	case "httpserver":
		return httpbench.Serve(*impl, *addr)
	case "udpclient":
		cfg := udp.ClientConfig{Clients: *conns, InFlight: *inFlight, Size: *size, ServerPID: *serverPID,
			Warmup: *warmup, Window: *window, PerfWindow: *perfWindow}
		if cfg.Addr, err = netip.ParseAddrPort(*addr); err != nil {
			return err
		}
		res, err = udp.RunLoad(cfg)
	case "client":
		cfg := echo.ClientConfig{Conns: *conns, Size: *size, ServerPID: *serverPID,
			Warmup: *warmup, Window: *window, PerfWindow: *perfWindow}
		if cfg.Addr, err = netip.ParseAddrPort(*addr); err != nil {
			return err
		}
		if *idle {
			res, err = echo.RunIdle(cfg, *settle)
		} else {
			res, err = echo.RunLoad(cfg)
		}
	case "nop":
		res, err = dispatch.Run(*impl, *batch, *duration)
	case "read":
		res, err = files.RandomReads(*impl, *file, *qd, *duration)
	case "wal":
		res, err = files.WAL(*impl, *method, *n, *dir, *duration)
	case "timers":
		res, err = timers.Run(*impl, *n, *span, *burst)
	default:
		return errors.New("unknown child kind " + args[0])
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
