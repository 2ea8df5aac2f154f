//go:build !windows

package main

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ioloop/ioloop/internal/benchkit/load"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// archServerProcess is the server of one run: `bench arch -serve ARCH`
// started from this binary (see childServer), as `bench echo -server`
// starts `ioloop echo`.
type archServerProcess struct {
	*childServer
	addr    netip.AddrPort
	backend string
}

// startArchServerProcess starts the server of cfg.arch on any free port
// of 127.0.0.1 and waits until it listens.
func startArchServerProcess(cfg archServerConfig, backend backendFlag) (*archServerProcess, error) {
	args := []string{"bench", "arch", "-serve", cfg.arch, "-addr", "127.0.0.1:0",
		"-loops", strconv.Itoa(cfg.loops), "-workers", strconv.Itoa(cfg.workers), "-max-conns", strconv.Itoa(cfg.maxConns),
		"-spin-per-ns", strconv.FormatFloat(cfg.spinPerNs, 'g', -1, 64), "-backend", backend.String()}
	if cfg.loop.Entries != 0 {
		args = append(args, "-entries", strconv.FormatUint(uint64(cfg.loop.Entries), 10))
	}
	child, err := newChildServer("server", args...)
	if err != nil {
		return nil, err
	}
	p := &archServerProcess{childServer: child}
	if cfg.procs > 0 {
		p.cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(cfg.procs))
	}
	if err := p.launch(-1); err != nil {
		return nil, fmt.Errorf("starting the %s server: %w", cfg.arch, err)
	}
	line, err := p.listening()
	if err != nil {
		return nil, err
	}
	// "listening on ADDR arch=A backend=B"
	if p.addr, p.backend, err = parseListening(line, "arch", cfg.arch); err != nil {
		p.kill()
		return nil, p.failure(err.Error())
	}
	return p, nil
}

// cpuProbe reads the server's CPU time at both ends of the window into
// *cpu; where that is impossible (outside Linux) it leaves *cpu at -1.
func (p *archServerProcess) cpuProbe(cpu *time.Duration) *load.Probe {
	var begin time.Duration
	*cpu = -1
	return &load.Probe{
		Begin: func() error {
			now, err := proc.ProcessCPU(p.cmd.Process.Pid)
			begin = now.Total()
			if err != nil {
				begin = -1
			}
			return nil
		},
		End: func() error {
			end, err := proc.ProcessCPU(p.cmd.Process.Pid)
			if err == nil && begin >= 0 {
				*cpu = end.Total() - begin
			}
			return nil
		},
	}
}

// stop sends SIGTERM and returns the counters of the server's summary
// line.
func (p *archServerProcess) stop() (archServerStats, error) {
	if err := p.terminate(); err != nil {
		return archServerStats{}, err
	}
	var st archServerStats
	for line := range strings.Lines(p.stdout.String()) {
		if !strings.HasPrefix(line, "summary ") {
			continue
		}
		for kv := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "requests":
				st.requests = n
			case "post_retries":
				st.postRetries = n
			case "post_dropped":
				st.postDropped = n
			case "rejected":
				st.rejected = n
			}
		}
		return st, nil
	}
	return st, p.failure("exited without its summary")
}
