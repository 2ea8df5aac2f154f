//go:build !windows

package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The reports of `bench arch`: a line per run and per cell's median, and
// the optional Markdown table.

// archCell is one point of the matrix, and the runs measured there.
type archCell struct {
	arch, dist string
	work       time.Duration
	runs       []archRun
}

type archRun struct {
	reqsPerSec, p50, p99, light float64 // latencies in µs
	serverCPU, clientCPU        float64 // µs per request; serverCPU < 0: unknown
	serverUtil, clientUtil      float64 // CPUs busy
	otherUtil                   float64 // CPUs the rest of the machine kept busy; < 0: unknown
	postRetries                 int64
}

func cellReport(name string, cell *archCell, cfg archServerConfig, conns int) *report {
	r := newReport(name).str("arch", cell.arch).str("dist", cell.dist).
		float("work_us", float64(cell.work)/1e3, 0).int("conns", int64(conns))
	switch cell.arch {
	case archPerCore:
		r.int("loops", int64(cfg.loops)).int("workers", 0)
	case archPool:
		r.int("loops", 1).int("workers", int64(cfg.workers))
	default:
		r.int("loops", 1).int("workers", 0)
	}
	return r
}

func addArchRun(r *report, run archRun) {
	r.float("reqs_per_sec", run.reqsPerSec, 0).
		float("p50_us", run.p50, 1).float("p99_us", run.p99, 1).float("light_p99_us", run.light, 1)
	if run.serverCPU >= 0 {
		r.float("server_cpu_us_per_req", run.serverCPU, 2).float("server_cpu_util", run.serverUtil, 2)
	}
	r.float("client_cpu_us_per_req", run.clientCPU, 2).float("client_cpu_util", run.clientUtil, 2)
	if run.otherUtil >= 0 {
		r.float("other_cpu_util", run.otherUtil, 2)
	}
}

// medianRun takes the median of each measure separately (the upper median
// for an even number of runs).
func medianRun(runs []archRun) archRun {
	med := func(get func(archRun) float64) float64 {
		values := make([]float64, len(runs))
		for i, run := range runs {
			values[i] = get(run)
		}
		slices.Sort(values)
		return values[len(values)/2]
	}
	return archRun{
		reqsPerSec: med(func(r archRun) float64 { return r.reqsPerSec }),
		p50:        med(func(r archRun) float64 { return r.p50 }),
		p99:        med(func(r archRun) float64 { return r.p99 }),
		light:      med(func(r archRun) float64 { return r.light }),
		serverCPU:  med(func(r archRun) float64 { return r.serverCPU }),
		clientCPU:  med(func(r archRun) float64 { return r.clientCPU }),
		serverUtil: med(func(r archRun) float64 { return r.serverUtil }),
		clientUtil: med(func(r archRun) float64 { return r.clientUtil }),
		otherUtil:  med(func(r archRun) float64 { return r.otherUtil }),
	}
}

func writeArchTable(w io.Writer, cells []*archCell) error {
	var b strings.Builder
	b.WriteString("\n| work | dist | arch | req/s | p50 µs | p99 µs | light p99 µs | server CPU µs/req | client CPU µs/req | others, CPUs |\n")
	b.WriteString("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, cell := range cells {
		m := medianRun(cell.runs)
		server := "n/a"
		if m.serverCPU >= 0 {
			server = strconv.FormatFloat(m.serverCPU, 'f', 1, 64)
		}
		fmt.Fprintf(&b, "| %v | %s | %s | %.0f | %.0f | %.0f | %.0f | %s | %.1f | %.2f |\n",
			cell.work, cell.dist, cell.arch, m.reqsPerSec, m.p50, m.p99, m.light, server, m.clientCPU, m.otherUtil)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
