package results

import (
	"fmt"
	"io"
	"strconv"

	"github.com/ioloop/ioloop/bench/internal/kv"
)

// KV is one redis-benchmark test of the kv workload against server
// Contender: Clients connections, Pipeline requests in flight on each.
type KV struct {
	Contender string `json:"contender"`
	Clients   int    `json:"clients"`
	Pipeline  int    `json:"pipeline"`
	Rep       int    `json:"rep"`
	kv.Result
}

func (r KV) config() string { return fmt.Sprintf("%s -P %d", r.Test, r.Pipeline) }

// kvCharts draws the kv workload's charts: requests per second, server CPU
// per request and p99, per test and pipeline depth.
func (d *Doc) kvCharts(draw func(name, title, xLabel, yLabel string, cats []string, ss []series) error) error {
	server := func(r KV) string { return r.Contender }
	cat := func(r KV) string { return r.config() }
	clients := 0
	if len(d.KV) > 0 {
		clients = d.KV[0].Clients
	}
	cats, ss := pivot(d.KV, cat, server, func(r KV) float64 { return r.RequestsPerSec / 1e3 })
	if err := draw("kv_rps.svg", fmt.Sprintf("Key-value server, redis-benchmark -c %d: throughput", clients),
		"test and pipeline depth", "thousand requests/s", cats, ss); err != nil {
		return err
	}
	cats, ss = pivot(d.KV, cat, server, func(r KV) float64 { return r.ServerCPUusPerReq })
	if err := draw("kv_cpu.svg", "Key-value server: server CPU per request (lower is better)",
		"test and pipeline depth", "µs of server CPU per request", cats, ss); err != nil {
		return err
	}
	cats, ss = pivot(d.KV, cat, server, func(r KV) float64 { return r.P99us })
	return draw("kv_p99.svg", "Key-value server: p99 latency as redis-benchmark measures it (lower is better)",
		"test and pipeline depth", "µs", cats, ss)
}

// printKV writes the kv table, with each server's rate and CPU per
// request as ratios to redis-server's in the same configuration: the
// issue's targets are stated as those ratios.
func (d *Doc) printKV(w io.Writer) {
	baseline := func(r KV, f func(KV) float64) float64 {
		var reps []KV
		for _, b := range d.KV {
			if b.Contender == "redis-server" && b.config() == r.config() && b.Clients == r.Clients {
				reps = append(reps, b)
			}
		}
		return median(reps, f)
	}
	ratio := func(head string, f func(KV) float64) column[KV] {
		return column[KV]{head, func(reps []KV) string {
			if base := baseline(reps[0], f); base > 0 {
				return strconv.FormatFloat(median(reps, f)/base, 'f', 2, 64)
			}
			return "n/a"
		}}
	}
	rps := func(r KV) float64 { return r.RequestsPerSec }
	cpu := func(r KV) float64 { return r.ServerCPUusPerReq }
	table(w, "Key-value server: redis-benchmark against redis-server and examples/kv (server pinned to one CPU, redis-benchmark on another)", d.KV,
		func(r KV) string { return fmt.Sprint(r.Contender, r.Clients, r.config()) },
		[]column[KV]{
			text("server", func(r KV) string { return r.Contender }),
			text("test", func(r KV) string { return r.Test }),
			text("clients", func(r KV) string { return strconv.Itoa(r.Clients) }),
			text("pipeline", func(r KV) string { return strconv.Itoa(r.Pipeline) }),
			kilo("req/s", rps),
			ratio("× redis", rps),
			num("srv CPU µs/req", 3, cpu),
			ratio("× redis", cpu),
			num("p50 µs", 0, func(r KV) float64 { return r.P50us }),
			num("p99 µs", 0, func(r KV) float64 { return r.P99us }),
			num("srv util", 2, func(r KV) float64 { return r.ServerCPUUtil }),
			num("client util", 2, func(r KV) float64 { return r.ClientCPUUtil }),
		})
}
