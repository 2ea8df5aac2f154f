// Package results is the suite's output: the JSON document of every run,
// the tables printed at the end, and the charts.
package results

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/ioloop/ioloop/bench/internal/dispatch"
	"github.com/ioloop/ioloop/bench/internal/echo"
	"github.com/ioloop/ioloop/bench/internal/files"
	"github.com/ioloop/ioloop/bench/internal/timers"
	"github.com/ioloop/ioloop/bench/internal/udp"
)

// Doc is everything one run of the suite measured.
type Doc struct {
	Meta     Meta       `json:"meta"`
	Echo     []Echo     `json:"echo"`
	Memory   []Memory   `json:"memory"`
	Dispatch []Dispatch `json:"dispatch"`
	Reads    []Read     `json:"reads"`
	WAL      []WAL      `json:"wal"`
	Timers   []Timer    `json:"timers"`
	Scaling  []Scaling  `json:"scaling"`
	UDP      []UDP      `json:"udp,omitempty"`
	KV       []KV       `json:"kv,omitempty"`
	HTTP     []HTTP     `json:"http,omitempty"`
	Notes    []string   `json:"notes"`
	Failures []string   `json:"failures"`
	// Partial lists the runs of some workloads (-only) merged into this
	// document after the run Meta describes, each replacing the sections
	// of its Workloads (see Merge).
	Partial []Meta `json:"partial_runs,omitempty"`
}

// Meta says where, when and how the suite ran.
type Meta struct {
	Date        string   `json:"date"`
	Machine     string   `json:"machine"`
	CPUs        int      `json:"cpus"`
	Kernel      string   `json:"kernel"`
	Go          string   `json:"go"`
	Commit      string   `json:"commit"`
	Command     string   `json:"command"`
	Quick       bool     `json:"quick"`
	Reps        int      `json:"reps"`
	Perf        string   `json:"perf"`
	Fio         string   `json:"fio"`
	ServerCPU   int      `json:"server_cpu"`
	ClientCPU   int      `json:"client_cpu"`
	ReadFile    string   `json:"read_file"`
	Workloads   []string `json:"workloads"`
	Settings    []string `json:"settings"`
	WallSeconds float64  `json:"wall_seconds"`
}

// Echo is one run of the echo workload.
type Echo struct {
	Contender string `json:"contender"`
	Conns     int    `json:"conns"`
	Size      int    `json:"size"`
	Rep       int    `json:"rep"`
	echo.LoadResult
}

// Memory is one run of the idle-connection memory workload.
type Memory struct {
	Contender string `json:"contender"`
	Rep       int    `json:"rep"`
	echo.IdleResult
}

// Dispatch is one run of the NOP workload.
type Dispatch struct {
	Contender string `json:"contender"`
	Batch     int    `json:"batch"`
	Rep       int    `json:"rep"`
	dispatch.Result
}

// Read is one run of the random-read workload.
type Read struct {
	Contender string `json:"contender"`
	QD        int    `json:"qd"`
	Rep       int    `json:"rep"`
	files.ReadResult
}

// WAL is one run of the write-ahead-log workload: engine Contender with
// Method, N appends in flight (see package files).
type WAL struct {
	Contender string `json:"contender"`
	Method    string `json:"method"`
	N         int    `json:"n"`
	Rep       int    `json:"rep"`
	files.WALResult
}

// Scaling is one run of the scaling workload: the ioloop echo server as a
// group of Loops loops, one per thread and SO_REUSEPORT listener.
type Scaling struct {
	Contender  string `json:"contender"`
	Loops      int    `json:"loops"`
	Conns      int    `json:"conns"`
	Size       int    `json:"size"`
	Rep        int    `json:"rep"`
	ServerCPUs []int  `json:"server_cpus"` // the loops' CPUs, loop i on the i-th
	ClientCPU  int    `json:"client_cpu"`  // -1: not pinned, sharing the server's CPUs
	echo.LoadResult
}

// UDP is one run of the UDP echo workload: Clients sockets, each with
// InFlight datagrams of Size bytes in flight, against server Contender
// (whose receives in flight, for the ioloop servers, are Depth).
type UDP struct {
	Contender string `json:"contender"`
	Clients   int    `json:"clients"`
	InFlight  int    `json:"in_flight"`
	Size      int    `json:"size"`
	Depth     int    `json:"depth,omitempty"`
	Rep       int    `json:"rep"`
	udp.Result
}

// Timer is one run of the timers workload.
type Timer struct {
	Contender string `json:"contender"`
	Rep       int    `json:"rep"`
	timers.Result
}

// Save writes d as indented JSON.
func (d *Doc) Save(path string) error {
	raw, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

// group collects rows by configuration, in first-seen order: the reps of
// one configuration end up together.
func group[T any](rows []T, key func(T) string) [][]T {
	var keys []string
	byKey := map[string][]T{}
	for _, r := range rows {
		k := key(r)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	out := make([][]T, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

// median of f over the reps of one configuration.
func median[T any](reps []T, f func(T) float64) float64 {
	vals := make([]float64, len(reps))
	for i, r := range reps {
		vals[i] = f(r)
	}
	slices.Sort(vals)
	n := len(vals)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return vals[n/2]
	}
	return (vals[n/2-1] + vals[n/2]) / 2
}

// syscallsPerMsg is the median of the counted reps, or the note of why
// none was counted.
func syscallsPerMsg(reps []Echo) (float64, string) {
	var counted []Echo
	for _, r := range reps {
		if r.SyscallsPerMsg != nil {
			counted = append(counted, r)
		}
	}
	if len(counted) == 0 {
		return 0, strings.TrimSpace(reps[0].SyscallsNote)
	}
	return median(counted, func(r Echo) float64 { return *r.SyscallsPerMsg }), ""
}

// Merge replaces the sections of base that d's workloads measured with
// d's, and keeps base's others: a run of some workloads (-only) then
// updates the published results without discarding the rest of a full
// run. base's Meta stays, since it describes most of the data; d's Meta is
// appended to Partial, which says which sections were measured by which
// later run. d's notes and failures are added to base's.
func (d *Doc) Merge(base *Doc) *Doc {
	out := *base
	for _, w := range d.Meta.Workloads {
		switch w {
		case "echo":
			out.Echo = d.Echo
		case "memory":
			out.Memory = d.Memory
		case "dispatch":
			out.Dispatch = d.Dispatch
		case "reads":
			out.Reads = d.Reads
		case "wal":
			out.WAL = d.WAL
		case "timers":
			out.Timers = d.Timers
		case "scaling":
			out.Scaling = d.Scaling
		case "udp":
			out.UDP = d.UDP
		case "kv":
			out.KV = d.KV
		case "http":
			out.HTTP = d.HTTP
		}
	}
	// Drop earlier partial runs whose workloads this one measured again.
	out.Partial = slices.DeleteFunc(slices.Clone(base.Partial), func(m Meta) bool {
		return !slices.ContainsFunc(m.Workloads, func(w string) bool { return !slices.Contains(d.Meta.Workloads, w) })
	})
	out.Partial = append(out.Partial, d.Meta)
	for _, n := range d.Notes {
		if !slices.Contains(out.Notes, n) {
			out.Notes = append(out.Notes, n)
		}
	}
	out.Failures = append(slices.Clone(base.Failures), d.Failures...)
	return &out
}

// Load reads a results file written by Save.
func Load(path string) (*Doc, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := &Doc{}
	if err := json.Unmarshal(raw, d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}
