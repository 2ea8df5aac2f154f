package results

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// series is one contender's bars across the categories of a chart.
type series struct {
	name   string
	values []float64
}

// pivot turns rows into categories (x axis) and one series per
// contender, each value the median over the rows of that cell (0 where a
// contender has none), in the order the rows first name them.
func pivot[T any](rows []T, category, contender func(T) string, value func(T) float64) ([]string, []series) {
	var cats, names []string
	cells := map[[2]string][]T{}
	for _, r := range rows {
		c, n := category(r), contender(r)
		if !slices.Contains(cats, c) {
			cats = append(cats, c)
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
		cells[[2]string{c, n}] = append(cells[[2]string{c, n}], r)
	}
	ss := make([]series, len(names))
	for i, n := range names {
		ss[i] = series{name: n, values: make([]float64, len(cats))}
		for j, c := range cats {
			ss[i].values[j] = median(cells[[2]string{c, n}], value)
		}
	}
	return cats, ss
}

// barChart draws grouped bars, one group per category, one colour per
// series, and saves it (the format follows the file's extension).
func barChart(path, title, xLabel, yLabel string, cats []string, ss []series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid)
	const width = 24 * vg.Centimeter
	barWidth := min(vg.Points(16), width*0.7/vg.Length(len(cats)*len(ss)))
	top := 0.0
	for i, s := range ss {
		bars, err := plotter.NewBarChart(plotter.Values(s.values), barWidth)
		if err != nil {
			return err
		}
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		bars.Offset = barWidth * vg.Length(2*i-len(ss)+1) / 2
		p.Add(bars)
		p.Legend.Add(s.name, bars)
		top = max(top, slices.Max(s.values))
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Y.Min = 0
	p.Y.Max = top * (1.15 + 0.06*float64(len(ss))) // room for the legend
	p.NominalX(cats...)
	return p.Save(width, 12*vg.Centimeter, path)
}

// Charts draws one chart per measure of the given workloads into dir, in
// format ("svg" or "png"), and returns the files' names. A run of some
// workloads (-only) redraws only theirs and leaves the others' files be.
func (d *Doc) Charts(dir, format string, workloads []string) ([]string, error) {
	var written []string
	var workload string // the workload whose charts are being drawn
	draw := func(name, title, xLabel, yLabel string, cats []string, ss []series) error {
		if len(cats) == 0 || !slices.Contains(workloads, workload) {
			return nil
		}
		path := filepath.Join(dir, strings.TrimSuffix(name, ".svg")+"."+format)
		if err := barChart(path, title, xLabel, yLabel, cats, ss); err != nil {
			return fmt.Errorf("chart %s: %w", name, err)
		}
		written = append(written, path)
		return nil
	}
	workload = "echo"
	conns := func(r Echo) string { return strconv.Itoa(r.Conns) }
	server := func(r Echo) string { return r.Contender }
	for _, size := range ascending(d.Echo, func(r Echo) int { return r.Size }) {
		rows := slices.DeleteFunc(slices.Clone(d.Echo), func(r Echo) bool { return r.Size != size })
		cats, ss := pivot(rows, conns, server, func(r Echo) float64 { return r.MsgsPerSec / 1e3 })
		if err := draw(fmt.Sprintf("echo_msgs_%dB.svg", size), fmt.Sprintf("TCP echo, %d-byte messages: throughput", size),
			"connections", "thousand messages/s", cats, ss); err != nil {
			return written, err
		}
		cats, ss = pivot(rows, conns, server, func(r Echo) float64 { return r.ServerCPUusPerMsg })
		if err := draw(fmt.Sprintf("echo_cpu_%dB.svg", size), fmt.Sprintf("TCP echo, %d-byte messages: server CPU per message (lower is better)", size),
			"connections", "µs of server CPU per message", cats, ss); err != nil {
			return written, err
		}
		cats, ss = pivot(rows, conns, server, func(r Echo) float64 { return r.P99us })
		if err := draw(fmt.Sprintf("echo_p99_%dB.svg", size), fmt.Sprintf("TCP echo, %d-byte messages: p99 round trip (lower is better)", size),
			"connections", "µs", cats, ss); err != nil {
			return written, err
		}
	}
	workload = "memory"
	cats, ss := pivot(d.Memory, func(r Memory) string { return fmt.Sprintf("%d idle connections", r.Conns) },
		func(r Memory) string { return r.Contender }, func(r Memory) float64 { return r.BytesPerConn / 1024 })
	if err := draw("memory.svg", "Server RSS per idle connection (lower is better)", "", "KiB per connection", cats, ss); err != nil {
		return written, err
	}
	workload = "dispatch"
	cats, ss = pivot(d.Dispatch, func(r Dispatch) string { return strconv.Itoa(r.Batch) }, func(r Dispatch) string { return r.Contender },
		func(r Dispatch) float64 { return r.OpsPerSec / 1e6 })
	if err := draw("dispatch.svg", "NOP dispatch", "NOPs in flight (batch)", "million NOPs/s", cats, ss); err != nil {
		return written, err
	}
	workload = "reads"
	qd := func(r Read) string { return strconv.Itoa(r.QD) }
	engine := func(r Read) string { return r.Contender }
	cats, ss = pivot(d.Reads, qd, engine, func(r Read) float64 { return r.IOPS / 1e3 })
	if err := draw("reads_iops.svg", "Random 4 KiB O_DIRECT reads", "queue depth", "thousand IOPS", cats, ss); err != nil {
		return written, err
	}
	cats, ss = pivot(d.Reads, qd, engine, func(r Read) float64 { return r.CPUusPerIO })
	if err := draw("reads_cpu.svg", "Random 4 KiB O_DIRECT reads: CPU per read (lower is better)", "queue depth", "µs of CPU per read", cats, ss); err != nil {
		return written, err
	}
	workload = "wal"
	for _, n := range ascending(d.WAL, func(r WAL) int { return r.N }) {
		rows := slices.DeleteFunc(slices.Clone(d.WAL), func(r WAL) bool { return r.N != n })
		method := func(r WAL) string { return r.Method }
		engine := func(r WAL) string { return r.Contender }
		cats, ss = pivot(rows, method, engine, func(r WAL) float64 { return r.WritesPerSec / 1e3 })
		if err := draw(fmt.Sprintf("wal_N%d.svg", n), fmt.Sprintf("Write-ahead log: 4 KiB appends, N = %d in flight, durable writes/s", n),
			"method", "thousand durable writes/s", cats, ss); err != nil {
			return written, err
		}
		cats, ss = pivot(rows, method, engine, func(r WAL) float64 { return r.CPUusPerWrite })
		if err := draw(fmt.Sprintf("wal_cpu_N%d.svg", n), fmt.Sprintf("Write-ahead log, N = %d: CPU per durable write (lower is better)", n),
			"method", "µs of CPU per durable write", cats, ss); err != nil {
			return written, err
		}
	}
	workload = "timers"
	timerSet := func(r Timer) string {
		if r.Burst {
			return human(float64(r.Timers)) + " timers, burst"
		}
		return human(float64(r.Timers)) + " timers"
	}
	cats, ss = pivot(d.Timers, timerSet, func(r Timer) string { return r.Contender },
		func(r Timer) float64 { return r.CPUnsPerTimer })
	if err := draw("timers.svg", "Timers: CPU per timer scheduled and fired (lower is better)", "", "ns of CPU per timer", cats, ss); err != nil {
		return written, err
	}
	cats, ss = pivot(d.Timers, timerSet, func(r Timer) string { return r.Contender },
		func(r Timer) float64 { return r.LateP99us / 1e3 })
	if err := draw("timers_p99.svg", "Timers: p99 lateness (lower is better)", "", "ms", cats, ss); err != nil {
		return written, err
	}
	workload = "scaling"
	loops := func(r Scaling) string {
		if r.Loops == 1 {
			return "1 loop"
		}
		return strconv.Itoa(r.Loops) + " loops"
	}
	load := func(r Scaling) string { return fmt.Sprintf("%d conns × %d B", r.Conns, r.Size) }
	cats, ss = pivot(d.Scaling, loops, load, func(r Scaling) float64 { return r.MsgsPerSec / 1e3 })
	if err := draw("scaling_msgs.svg", "Scaling across loops: TCP echo on an ioloop Group (io_uring), throughput",
		"server loops (one per thread and SO_REUSEPORT listener)", "thousand messages/s", cats, ss); err != nil {
		return written, err
	}
	cats, ss = pivot(d.Scaling, loops, load, func(r Scaling) float64 { return r.ServerCPUusPerMsg })
	if err := draw("scaling_cpu.svg", "Scaling across loops: server CPU per message (lower is better)",
		"server loops (one per thread and SO_REUSEPORT listener)", "µs of server CPU per message", cats, ss); err != nil {
		return written, err
	}
	workload = "kv"
	if err := d.kvCharts(draw); err != nil {
		return written, err
	}
	workload = "http"
	if err := d.chartsHTTP(draw); err != nil {
		return written, err
	}
	return written, nil
}

// ascending lists the distinct values of key over rows, ascending.
func ascending[T any](rows []T, key func(T) int) []int {
	var out []int
	for _, r := range rows {
		if !slices.Contains(out, key(r)) {
			out = append(out, key(r))
		}
	}
	slices.Sort(out)
	return out
}
