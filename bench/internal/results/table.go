package results

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// column is one column of a table: its heading and how to print it for
// the reps of one configuration (medians when there are several).
type column[T any] struct {
	head string
	cell func(reps []T) string
}

func table[T any](w io.Writer, title string, rows []T, key func(T) string, cols []column[T]) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, c := range cols {
		fmt.Fprintf(tw, "%s\t", c.head)
	}
	fmt.Fprintln(tw)
	for _, reps := range group(rows, key) {
		for _, c := range cols {
			fmt.Fprintf(tw, "%s\t", c.cell(reps))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// text and num make cells: a fixed string per configuration, and the
// median of a number with the given decimals.
func text[T any](head string, f func(T) string) column[T] {
	return column[T]{head, func(reps []T) string { return f(reps[0]) }}
}

func num[T any](head string, decimals int, f func(T) float64) column[T] {
	return column[T]{head, func(reps []T) string {
		return strconv.FormatFloat(median(reps, f), 'f', decimals, 64)
	}}
}

func kilo[T any](head string, f func(T) float64) column[T] {
	return column[T]{head, func(reps []T) string { return human(median(reps, f)) }}
}

// human prints 1234567 as 1.23M, 45678 as 45.7k.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// Print writes every table.
func (d *Doc) Print(w io.Writer) {
	m := d.Meta
	fmt.Fprintf(w, "ioloop benchmark suite: %s, %s, %d CPUs, Linux %s, %s, commit %s", m.Date, m.Machine, m.CPUs, m.Kernel, m.Go, m.Commit)
	if m.Quick {
		fmt.Fprint(w, " (quick mode: short runs, numbers are rough)")
	}
	fmt.Fprintln(w)
	if m.Reps > 1 {
		fmt.Fprintf(w, "every number is the median of %d repetitions\n", m.Reps)
	}
	table(w, "TCP echo, ping-pong (server pinned to one CPU, load generator on another)", d.Echo,
		func(r Echo) string { return fmt.Sprint(r.Contender, r.Conns, r.Size) },
		[]column[Echo]{
			text("server", func(r Echo) string { return r.Contender }),
			text("conns", func(r Echo) string { return strconv.Itoa(r.Conns) }),
			text("size", func(r Echo) string { return strconv.Itoa(r.Size) }),
			kilo("msgs/s", func(r Echo) float64 { return r.MsgsPerSec }),
			num("p50 µs", 1, func(r Echo) float64 { return r.P50us }),
			num("p99 µs", 1, func(r Echo) float64 { return r.P99us }),
			num("srv CPU µs/msg", 2, func(r Echo) float64 { return r.ServerCPUusPerMsg }),
			{"syscalls/msg", func(reps []Echo) string {
				v, note := syscallsPerMsg(reps)
				if note != "" {
					return "n/a"
				}
				return strconv.FormatFloat(v, 'f', 3, 64)
			}},
			num("srv RSS MiB", 1, func(r Echo) float64 { return mib(r.ServerRSSBytes) }),
			num("srv util", 2, func(r Echo) float64 { return r.ServerCPUUtil }),
			num("client util", 2, func(r Echo) float64 { return r.ClientCPUUtil }),
		})
	table(w, "Memory: server RSS per idle connection", d.Memory,
		func(r Memory) string { return r.Contender },
		[]column[Memory]{
			text("server", func(r Memory) string { return r.Contender }),
			text("conns", func(r Memory) string { return strconv.Itoa(r.Conns) }),
			num("RSS before MiB", 1, func(r Memory) float64 { return mib(r.BaselineBytes) }),
			num("RSS after MiB", 1, func(r Memory) float64 { return mib(r.LoadedBytes) }),
			num("KiB/conn", 2, func(r Memory) float64 { return r.BytesPerConn / 1024 }),
		})
	table(w, "Dispatch: NOPs through the kernel and back", d.Dispatch,
		func(r Dispatch) string { return fmt.Sprint(r.Contender, r.Batch) },
		[]column[Dispatch]{
			text("contender", func(r Dispatch) string { return r.Contender }),
			text("batch", func(r Dispatch) string { return strconv.Itoa(r.Batch) }),
			kilo("NOPs/s", func(r Dispatch) float64 { return r.OpsPerSec }),
			num("CPU ns/NOP", 1, func(r Dispatch) float64 { return r.CPUnsPerOp }),
		})
	table(w, "Files: random 4 KiB O_DIRECT reads", d.Reads,
		func(r Read) string { return fmt.Sprint(r.Contender, r.QD) },
		[]column[Read]{
			text("engine", func(r Read) string { return r.Contender }),
			text("QD", func(r Read) string { return strconv.Itoa(r.QD) }),
			kilo("IOPS", func(r Read) float64 { return r.IOPS }),
			num("CPU µs/IO", 2, func(r Read) float64 { return r.CPUusPerIO }),
		})
	table(w, "Files: write-ahead log, 4 KiB appends, N in flight, each counted when durable", d.WAL,
		func(r WAL) string { return fmt.Sprint(r.Contender, r.Method, r.N) },
		[]column[WAL]{
			text("engine", func(r WAL) string { return r.Contender }),
			text("method", func(r WAL) string { return r.Method }),
			text("N", func(r WAL) string { return strconv.Itoa(r.N) }),
			kilo("durable writes/s", func(r WAL) float64 { return r.WritesPerSec }),
			num("CPU µs/write", 2, func(r WAL) float64 { return r.CPUusPerWrite }),
			num("p50 µs", 0, func(r WAL) float64 { return r.P50us }),
			num("p99 µs", 0, func(r WAL) float64 { return r.P99us }),
		})
	table(w, "Timers: durations uniform over the span, all scheduled, all fired (burst: all scheduled from one callback)", d.Timers,
		func(r Timer) string { return fmt.Sprint(r.Contender, r.Burst, r.Timers, r.SpanMs) },
		[]column[Timer]{
			text("contender", func(r Timer) string { return r.Contender }),
			text("mode", func(r Timer) string { return map[bool]string{false: "paced", true: "burst"}[r.Burst] }),
			text("timers", func(r Timer) string { return human(float64(r.Timers)) }),
			num("span ms", 0, func(r Timer) float64 { return r.SpanMs }),
			num("schedule ms", 0, func(r Timer) float64 { return r.ScheduleMs }),
			num("total ms", 0, func(r Timer) float64 { return r.TotalMs }),
			num("CPU ns/timer", 0, func(r Timer) float64 { return r.CPUnsPerTimer }),
			num("late p50 µs", 0, func(r Timer) float64 { return r.LateP50us }),
			num("late p99 µs", 0, func(r Timer) float64 { return r.LateP99us }),
			num("late max µs", 0, func(r Timer) float64 { return r.LateMaxus }),
			{"early", func(reps []Timer) string { // the worst rep: any early fire is a failure
				worst := 0
				for _, r := range reps {
					worst = max(worst, r.EarlyFires)
				}
				return strconv.Itoa(worst)
			}},
			num("peak RSS MiB", 0, func(r Timer) float64 { return mib(r.PeakRSSBytes) }),
		})
	table(w, "Scaling across loops: TCP echo, ioloop Group on io_uring, loop i pinned to CPU i", d.Scaling,
		func(r Scaling) string { return fmt.Sprint(r.Contender, r.Loops, r.Conns, r.Size) },
		[]column[Scaling]{
			text("server", func(r Scaling) string { return r.Contender }),
			text("loops", func(r Scaling) string { return strconv.Itoa(r.Loops) }),
			text("conns", func(r Scaling) string { return strconv.Itoa(r.Conns) }),
			text("size", func(r Scaling) string { return strconv.Itoa(r.Size) }),
			text("client CPU", func(r Scaling) string {
				if r.ClientCPU < 0 {
					return "shared"
				}
				return strconv.Itoa(r.ClientCPU)
			}),
			kilo("msgs/s", func(r Scaling) float64 { return r.MsgsPerSec }),
			num("p99 µs", 1, func(r Scaling) float64 { return r.P99us }),
			num("srv CPU µs/msg", 2, func(r Scaling) float64 { return r.ServerCPUusPerMsg }),
			num("client CPU µs/msg", 2, func(r Scaling) float64 { return r.ClientCPUusPerMsg }),
			num("srv util", 2, func(r Scaling) float64 { return r.ServerCPUUtil }),
			num("client util", 2, func(r Scaling) float64 { return r.ClientCPUUtil }),
		})
	d.printUDP(w)
	d.printKV(w)
	d.printHTTP(w)
	notes := d.Notes
	for _, reps := range group(d.Echo, func(r Echo) string { return r.SyscallsNote }) {
		if note := reps[0].SyscallsNote; note != "" {
			notes = append(notes, "syscalls/msg: "+note)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nnotes:\n  %s\n", strings.Join(notes, "\n  "))
	}
	if len(d.Failures) > 0 {
		fmt.Fprintf(w, "\nFAILED runs:\n  %s\n", strings.Join(d.Failures, "\n  "))
	}
}

// printUDP writes the UDP echo table, with each server's rate and CPU per
// message as ratios to Go net.UDPConn's (gonet) in the same
// configuration: the target is stated as those ratios.
func (d *Doc) printUDP(w io.Writer) {
	config := func(r UDP) string { return fmt.Sprint(r.Clients, r.InFlight, r.Size) }
	baseline := func(r UDP, f func(UDP) float64) float64 {
		var reps []UDP
		for _, b := range d.UDP {
			if b.Contender == "gonet" && config(b) == config(r) {
				reps = append(reps, b)
			}
		}
		return median(reps, f)
	}
	ratio := func(head string, f func(UDP) float64) column[UDP] {
		return column[UDP]{head, func(reps []UDP) string {
			if base := baseline(reps[0], f); base > 0 {
				return strconv.FormatFloat(median(reps, f)/base, 'f', 2, 64)
			}
			return "n/a"
		}}
	}
	msgs := func(r UDP) float64 { return r.MsgsPerSec }
	cpu := func(r UDP) float64 { return r.ServerCPUusPerMsg }
	table(w, "UDP echo, ping-pong with a window (server pinned to one CPU, load generator on another)", d.UDP,
		func(r UDP) string { return r.Contender + " " + config(r) },
		[]column[UDP]{
			text("server", func(r UDP) string { return r.Contender }),
			text("clients", func(r UDP) string { return strconv.Itoa(r.Clients) }),
			text("in flight", func(r UDP) string { return strconv.Itoa(r.InFlight) }),
			text("size", func(r UDP) string { return strconv.Itoa(r.Size) }),
			kilo("msgs/s", msgs),
			ratio("× gonet", msgs),
			num("p99 µs", 1, func(r UDP) float64 { return r.P99us }),
			num("srv CPU µs/msg", 2, cpu),
			ratio("× gonet", cpu),
			{"syscalls/msg", func(reps []UDP) string {
				var counted []UDP
				for _, r := range reps {
					if r.SyscallsPerMsg != nil {
						counted = append(counted, r)
					}
				}
				if len(counted) == 0 {
					return "n/a"
				}
				return strconv.FormatFloat(median(counted, func(r UDP) float64 { return *r.SyscallsPerMsg }), 'f', 3, 64)
			}},
			num("srv util", 2, func(r UDP) float64 { return r.ServerCPUUtil }),
			num("client util", 2, func(r UDP) float64 { return r.ClientCPUUtil }),
			num("lost", 0, func(r UDP) float64 { return float64(r.Lost) }),
		})
}
