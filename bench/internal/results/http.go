package results

import (
	"io"
	"strconv"

	"github.com/ioloop/ioloop/bench/internal/httpbench"
)

// HTTP is one run of the HTTP workload: wrk with Conns connections
// against server Contender on Route.
type HTTP struct {
	Contender string `json:"contender"`
	Route     string `json:"route"`
	Conns     int    `json:"conns"`
	Rep       int    `json:"rep"`
	httpbench.Result
}

// httpBaseline is the contender the HTTP table's ratios are to: the
// issue's target is stated against net/http.
const httpBaseline = "nethttp"

// printHTTP writes the HTTP table, with each server's rate and CPU per
// request as ratios to net/http's on the same route.
func (d *Doc) printHTTP(w io.Writer) {
	config := func(r HTTP) string { return r.Route + " " + strconv.Itoa(r.Conns) }
	baseline := func(r HTTP, f func(HTTP) float64) float64 {
		var reps []HTTP
		for _, b := range d.HTTP {
			if b.Contender == httpBaseline && config(b) == config(r) {
				reps = append(reps, b)
			}
		}
		return median(reps, f)
	}
	ratio := func(head string, f func(HTTP) float64) column[HTTP] {
		return column[HTTP]{head, func(reps []HTTP) string {
			if base := baseline(reps[0], f); base > 0 {
				return strconv.FormatFloat(median(reps, f)/base, 'f', 2, 64)
			}
			return "n/a"
		}}
	}
	rate := func(r HTTP) float64 { return r.ReqPerSec }
	cpu := func(r HTTP) float64 { return r.ServerCPUus }
	table(w, "HTTP/1.1 with wrk, keep-alive (server pinned to one CPU, wrk on another)", d.HTTP,
		func(r HTTP) string { return r.Contender + " " + config(r) },
		[]column[HTTP]{
			text("server", func(r HTTP) string { return r.Contender }),
			text("route", func(r HTTP) string { return r.Route }),
			text("conns", func(r HTTP) string { return strconv.Itoa(r.Conns) }),
			kilo("req/s", rate),
			ratio("× nethttp", rate),
			num("srv CPU µs/req", 2, cpu),
			ratio("× nethttp", cpu),
			num("p50 µs", 0, func(r HTTP) float64 { return r.P50us }),
			num("p99 µs", 0, func(r HTTP) float64 { return r.P99us }),
			num("srv util", 2, func(r HTTP) float64 { return r.ServerCPUUtil }),
			num("wrk util", 2, func(r HTTP) float64 { return r.ClientCPUUtil }),
			num("srv RSS MiB", 1, func(r HTTP) float64 { return mib(r.ServerRSS) }),
			num("errors", 0, func(r HTTP) float64 { return float64(r.Errors) }),
		})
}

// chartsHTTP draws the HTTP workload's charts with draw (Charts's).
func (d *Doc) chartsHTTP(draw func(name, title, xLabel, yLabel string, cats []string, ss []series) error) error {
	route := func(r HTTP) string { return "GET " + r.Route + ", " + strconv.Itoa(r.Conns) + " conns" }
	server := func(r HTTP) string { return r.Contender }
	for _, c := range []struct {
		name, title, yLabel string
		value               func(HTTP) float64
	}{
		{"http_rps.svg", "HTTP/1.1 with wrk: requests/s (server on one CPU)", "thousand requests/s", func(r HTTP) float64 { return r.ReqPerSec / 1e3 }},
		{"http_cpu.svg", "HTTP/1.1 with wrk: server CPU per request (lower is better)", "µs of server CPU per request", func(r HTTP) float64 { return r.ServerCPUus }},
		{"http_p99.svg", "HTTP/1.1 with wrk: p99 latency (lower is better)", "µs", func(r HTTP) float64 { return r.P99us }},
	} {
		cats, ss := pivot(d.HTTP, route, server, c.value)
		if err := draw(c.name, c.title, "", c.yLabel, cats, ss); err != nil {
			return err
		}
	}
	return nil
}
