// Command suite runs ioloop's benchmark suite: ioloop side by side with
// Go's net package, gnet, go-uring, os.File and fio, on this machine.
//
//	cd bench && go run ./cmd/suite            # the full suite, twice over (docs/BENCHMARKS.md: how long)
//	cd bench && go run ./cmd/suite -quick     # every workload and contender once, under a minute
//	cd bench && go run ./cmd/suite -only scaling  # one workload, merged into the published results
//
// It prints progress on stderr and a results table on stdout, writes every
// measurement as JSON, and draws SVG charts. Servers, load generator and
// file engines run in child processes: this binary started again with
// "child" as its first argument. Linux only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ioloop/ioloop/bench/internal/results"
)

// Workloads, in the order the suite runs them.
var allWorkloads = []string{"echo", "memory", "dispatch", "reads", "wal", "timers", "scaling", "udp", "kv", "http"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		if err := runChild(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "child %s: %v\n", strings.Join(os.Args[2:], " "), err)
			os.Exit(1)
		}
		return
	}
	os.Exit(runSuite())
}

func runSuite() int {
	quick := flag.Bool("quick", false, "every workload and contender once, with short runs and fewer configurations: under a minute (numbers are rough)")
	only := flag.String("only", "", "comma-separated workloads to run (default all): "+strings.Join(allWorkloads, ",")+
		"; their results replace theirs in an existing results file, whose other workloads stay, and only their charts are redrawn")
	out := flag.String("out", "", "JSON results file (default DIR/results.json with DIR the -charts directory)")
	charts := flag.String("charts", "", "directory for the charts and, by default, the JSON (default: docs/bench of this repository; with -quick a temporary directory)")
	reps := flag.Int("reps", 0, "repetitions of every run, one round of the whole suite after another; tables and charts show medians (default 2, with -quick 1)")
	format := flag.String("format", "svg", "chart format: svg or png")
	readFile := flag.String("file", "", "test file for the read workload, created if missing (default /tmp/ioloop-bench.dat, 1 GiB; with -quick /tmp/ioloop-bench-quick.dat, 64 MiB)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./cmd/suite [-quick] [-only LIST] [-reps N] [-charts DIR] [-format svg|png] [-out FILE] [-file PATH]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 || *reps < 0 || (*format != "svg" && *format != "png") {
		flag.Usage()
		return 2
	}
	workloads := allWorkloads
	if *only != "" {
		workloads = strings.Split(*only, ",")
		for _, w := range workloads {
			if !slices.Contains(allWorkloads, w) {
				fmt.Fprintf(os.Stderr, "suite: unknown workload %q in -only (want some of %s)\n", w, strings.Join(allWorkloads, ","))
				return 2
			}
		}
	}
	cfg := fullConfig()
	if *quick {
		cfg = quickConfig()
	}
	if *reps == 0 {
		*reps = cfg.reps
	}
	if *readFile != "" {
		cfg.readFile = *readFile
	}
	chartDir := *charts
	if chartDir == "" {
		chartDir = defaultOutputDir(*quick)
	}
	if err := os.MkdirAll(chartDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		return 1
	}
	jsonPath := *out
	if jsonPath == "" {
		jsonPath = filepath.Join(chartDir, "results.json")
	}

	began := time.Now()
	r, err := newRunner(cfg, *quick, *reps, workloads)
	if err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		return 1
	}
	r.run()
	r.doc.Meta.WallSeconds = time.Since(began).Seconds()

	// A run of some workloads updates their sections of an existing
	// results file and keeps the rest (see results.Doc.Merge), so that
	// `-only scaling` does not discard the other workloads' full run.
	saved := r.doc
	if len(workloads) < len(allWorkloads) {
		base, err := results.Load(jsonPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			fmt.Fprintln(os.Stderr, "suite: merging into the existing results:", err)
			return 1
		case base.Meta.Quick != r.doc.Meta.Quick:
			fmt.Fprintf(os.Stderr, "suite: %s holds a %s run; not merging this %s run into it (use -out or -charts)\n",
				jsonPath, runKind(base.Meta.Quick), runKind(r.doc.Meta.Quick))
			return 1
		default:
			saved = r.doc.Merge(base)
			fmt.Fprintf(os.Stderr, "suite: merged %s into %s, keeping its other workloads\n", strings.Join(workloads, ","), jsonPath)
		}
	}
	if err := saved.Save(jsonPath); err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		return 1
	}
	files, err := saved.Charts(chartDir, *format, workloads)
	if err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		return 1
	}
	r.doc.Print(os.Stdout)
	fmt.Fprintf(os.Stderr, "\nsuite: finished in %v; results in %s; %d charts in %s\n",
		time.Since(began).Round(time.Second), jsonPath, len(files), chartDir)
	if len(r.doc.Failures) > 0 {
		fmt.Fprintf(os.Stderr, "suite: %d runs failed\n", len(r.doc.Failures))
		return 1
	}
	return 0
}

// defaultOutputDir is docs/bench of the repository this runs in, found
// from the working directory up; a quick run writes to a temporary
// directory instead, so that it never replaces the published results.
func defaultOutputDir(quick bool) string {
	if quick {
		return filepath.Join(os.TempDir(), "ioloop-bench-quick")
	}
	if root := repoRoot(); root != "" {
		return filepath.Join(root, "docs", "bench")
	}
	return "bench-results"
}

// repoRoot returns the directory above the working directory that holds
// bench/go.mod, or "".
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "bench", "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func runKind(quick bool) string {
	if quick {
		return "quick"
	}
	return "full"
}
