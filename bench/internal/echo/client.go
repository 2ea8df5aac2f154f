package echo

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/load"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// The load generator is the same for every server: package load's echo
// client (the one `ioloop bench echo` runs) on ioloop over io_uring
// (epoll where io_uring is refused), one goroutine, pinned by the parent
// to its own CPU. Each connection keeps one message in flight: it submits
// the Send and the Recv of a message together (one loop pass per round
// trip), checks that the reply is what it sent, and starts the next.

// ClientConfig says what one load generator run does.
type ClientConfig struct {
	Addr       netip.AddrPort
	Conns      int
	Size       int
	ServerPID  int           // the server process, measured through /proc and perf
	Warmup     time.Duration // load before measuring
	Window     time.Duration // the measured window: rate, latency, CPU, RSS
	PerfWindow time.Duration // a second window with perf counting the server's system calls; 0: none
}

// connectTimeout bounds connecting every connection: 10,000 of them take
// seconds on a loaded machine.
const connectTimeout = time.Minute

// newClient returns the echo client of cfg on a loop of its own.
func newClient(cfg ClientConfig) (*load.Client, error) {
	loop, err := ioloop.New(ioloop.Options{Entries: 4096})
	if err != nil {
		return nil, err
	}
	return load.NewEchoClient(loop, cfg.Addr, cfg.Conns, cfg.Size), nil
}

// LoadResult is what one measured run of the load generator reports.
type LoadResult struct {
	Messages          int64    `json:"messages"`
	WindowSeconds     float64  `json:"window_s"`
	MsgsPerSec        float64  `json:"msgs_per_sec"`
	P50us             float64  `json:"p50_us"`
	P99us             float64  `json:"p99_us"`
	ServerCPUusPerMsg float64  `json:"server_cpu_us_per_msg"`
	ServerUserPerMsg  float64  `json:"server_user_us_per_msg"` // the part of it in user space
	ServerCPUUtil     float64  `json:"server_cpu_util"`
	ClientCPUusPerMsg float64  `json:"client_cpu_us_per_msg"`
	ClientUserPerMsg  float64  `json:"client_user_us_per_msg"`
	ClientCPUUtil     float64  `json:"client_cpu_util"`
	SyscallsPerMsg    *float64 `json:"syscalls_per_msg"` // nil: not counted, see SyscallsNote
	SyscallsNote      string   `json:"syscalls_note,omitempty"`
	ServerRSSBytes    int64    `json:"server_rss_bytes"`
	ConnectSeconds    float64  `json:"connect_s"`
	ClientBackend     string   `json:"client_backend"`
}

// RunLoad connects, warms up, and measures: rate, latency and the
// server's CPU time over Window, and its RSS after it; then, if
// PerfWindow is set, the server's system calls over a second window
// (perf's tracepoint slows every system call, so it is not attached while
// CPU time is measured).
func RunLoad(cfg ClientConfig) (LoadResult, error) {
	meter, err := load.NewServerMeter(cfg.ServerPID)
	if err != nil {
		return LoadResult{}, err
	}
	cl, err := newClient(cfg)
	if err != nil {
		return LoadResult{}, err
	}
	defer cl.Close()
	run, err := load.RunEcho(cl, cfg.Size, load.EchoConfig{ConnectTimeout: connectTimeout, Warmup: cfg.Warmup,
		Duration: cfg.Window, Server: meter, SyscallWindow: cfg.PerfWindow})
	if err != nil {
		return LoadResult{ClientBackend: cl.Loop().Backend().String(), ConnectSeconds: run.ConnectTime.Seconds()}, err
	}
	return Report(run, meter, cl.Loop().Backend(), cfg.PerfWindow)
}

// Report turns run, a finished measurement, and meter, the server's over
// it, into a LoadResult: RunLoad's, and that of every load generator that
// measures a server the same way (the UDP workload's). clientBackend is the load
// generator loop's, and perfWindow the length of the second window (0:
// there was none).
func Report(run load.EchoResult, meter *load.ServerMeter, clientBackend ioloop.Backend, perfWindow time.Duration) (LoadResult, error) {
	res := LoadResult{ClientBackend: clientBackend.String(), ConnectSeconds: run.ConnectTime.Seconds()}
	var err error
	iv, messages, serverCPU := run.Interval, run.Messages, meter.CPU
	res.Messages, res.WindowSeconds = messages, iv.Wall.Seconds()
	res.MsgsPerSec = iv.PerSecond(messages)
	res.P50us, res.P99us = micros(run.P50), micros(run.P99)
	res.ServerCPUusPerMsg = proc.MicrosPer(serverCPU.Total(), messages)
	res.ServerUserPerMsg = proc.MicrosPer(serverCPU.User, messages)
	res.ServerCPUUtil = iv.Utilization(serverCPU.Total())
	res.ClientCPUusPerMsg = iv.CPUMicrosPer(messages)
	res.ClientUserPerMsg = proc.MicrosPer(iv.CPU.User, messages)
	res.ClientCPUUtil = iv.Utilization(iv.CPU.Total())
	if res.ServerRSSBytes, err = proc.Memory(meter.PID, "VmRSS"); err != nil {
		return res, err
	}
	if perfWindow > 0 {
		switch {
		case meter.Syscalls < 0:
			res.SyscallsNote = "n/a (" + meter.SyscallsErr.Error() + ")"
		case run.SyscallWindowMessages == 0:
			res.SyscallsNote = "n/a (no round trip completed while perf counted)"
		default:
			perMsg := float64(meter.Syscalls) / float64(run.SyscallWindowMessages)
			res.SyscallsPerMsg = &perMsg
		}
	}
	return res, nil
}

// IdleResult is what the memory workload reports.
type IdleResult struct {
	Conns          int     `json:"conns"`
	BaselineBytes  int64   `json:"baseline_rss_bytes"`
	LoadedBytes    int64   `json:"loaded_rss_bytes"`
	BytesPerConn   float64 `json:"bytes_per_conn"`
	ConnectSeconds float64 `json:"connect_s"`
}

// RunIdle measures the server's RSS before any connection, and again after
// every connection has made one round trip and then idled for settle.
func RunIdle(cfg ClientConfig, settle time.Duration) (IdleResult, error) {
	res := IdleResult{Conns: cfg.Conns}
	var err error
	if res.BaselineBytes, err = proc.Memory(cfg.ServerPID, "VmRSS"); err != nil {
		return res, err
	}
	cl, err := newClient(cfg)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	began := time.Now()
	err = cl.Connect(connectTimeout)
	res.ConnectSeconds = time.Since(began).Seconds()
	if err != nil {
		return res, err
	}
	cl.StartOneEach()
	allDone := func() bool { return cl.Finished() == cl.Len() }
	if err := cl.RunUntil(time.Minute, allDone); err != nil {
		return res, err
	}
	if !allDone() {
		return res, fmt.Errorf("only %d of %d connections made a round trip within a minute", cl.Finished(), cl.Len())
	}
	time.Sleep(settle)
	if res.LoadedBytes, err = proc.Memory(cfg.ServerPID, "VmRSS"); err != nil {
		return res, err
	}
	res.BytesPerConn = float64(res.LoadedBytes-res.BaselineBytes) / float64(cfg.Conns)
	return res, nil
}

func micros(d time.Duration) float64 { return float64(d) / 1e3 }
