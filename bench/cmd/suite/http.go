package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ioloop/ioloop/bench/internal/httpbench"
	"github.com/ioloop/ioloop/bench/internal/results"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// httpSettings sizes the HTTP workload (package httpbench): wrk with conns
// connections on threads threads, per route, a warm-up run and then a
// measured one.
type httpSettings struct {
	routes  []string
	conns   int
	threads int
	warmup  time.Duration
	window  time.Duration
}

func httpSettingsFor(quick bool) httpSettings {
	if quick {
		return httpSettings{routes: httpbench.Routes[:1], conns: 100, threads: 1, warmup: time.Second / 2, window: time.Second}
	}
	return httpSettings{routes: httpbench.Routes, conns: 100, threads: 1, warmup: time.Second, window: 5 * time.Second}
}

func (s httpSettings) describe() string {
	return fmt.Sprintf("http: wrk -t%d -c%d --latency, routes %v, warm-up %v then measured %v; server on the first CPU, wrk on the second",
		s.threads, s.conns, s.routes, s.warmup, s.window)
}

// httpBuilt holds what the HTTP workload's steps share: the examples
// built from the repository (by the first step), by directory.
var httpBuilt struct {
	contenders []string
	bins       map[string]string
	err        error
}

// planHTTP adds the HTTP workload's steps for one repetition: the first
// builds the example servers; then every contender per route, in turn.
func (r *runner) planHTTP(rep int) {
	s := httpSettingsFor(r.doc.Meta.Quick)
	if rep == 1 {
		version, ok := httpbench.WrkVersion()
		if !ok {
			r.note("http workload skipped: " + version)
			return
		}
		r.doc.Meta.Settings = append(r.doc.Meta.Settings, s.describe()+"; "+version)
		root := libraryDir()
		httpBuilt.contenders = httpbench.Available(root)
		if !containsString(httpBuilt.contenders, httpbench.Optional) {
			r.note("http: contender " + httpbench.Optional + " skipped: " + httpbench.Example(httpbench.Optional) + " does not exist")
		}
		r.add("http: build the example servers", func() (string, error) {
			bins, err := buildExamples(root, httpBuilt.contenders)
			httpBuilt.bins, httpBuilt.err = bins, err
			return fmt.Sprintf("%d built", len(bins)), err
		})
	}
	if httpBuilt.contenders == nil {
		return // no wrk
	}
	for _, route := range s.routes {
		for _, impl := range httpBuilt.contenders {
			r.add(fmt.Sprintf("http %s GET %s %d conns", impl, route, s.conns), func() (string, error) {
				return r.httpRun(impl, route, rep, s)
			})
		}
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// buildExamples builds each example the contenders run, from the
// repository at root, into a directory of its own under the temporary
// directory (rebuilt every run, so that it is the checkout's code).
func buildExamples(root string, contenders []string) (map[string]string, error) {
	dir := filepath.Join(os.TempDir(), "ioloop-bench-http")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	bins := map[string]string{}
	for _, impl := range contenders {
		ex := httpbench.Example(impl)
		if ex == "" || bins[ex] != "" {
			continue
		}
		bin := filepath.Join(dir, filepath.Base(ex))
		cmd := exec.Command("go", "build", "-o", bin, "./"+filepath.ToSlash(ex))
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return bins, fmt.Errorf("go build ./%s: %v: %s", ex, err, strings.TrimSpace(string(out)))
		}
		bins[ex] = bin
	}
	return bins, nil
}

// httpRun starts server impl bound to the server CPU on a free port,
// waits until it answers route, and measures it with wrk bound to the
// client CPU.
func (r *runner) httpRun(impl, route string, rep int, s httpSettings) (string, error) {
	if httpBuilt.err != nil {
		return "", fmt.Errorf("the examples did not build: %w", httpBuilt.err)
	}
	addr, err := httpbench.FreeAddr()
	if err != nil {
		return "", err
	}
	var cmd *exec.Cmd
	if ex := httpbench.Example(impl); ex != "" {
		bin := httpBuilt.bins[ex]
		if bin == "" {
			return "", fmt.Errorf("%s was not built", ex)
		}
		cmd = exec.Command(bin, httpbench.ExampleArgs(impl, addr)...)
	} else {
		cmd = exec.Command(r.exe, "child", "httpserver", "-impl", impl, "-addr", addr, "-nofile", strconv.Itoa(s.conns+100))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := proc.StartPinned(cmd, r.serverCPU); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	if err := httpbench.AwaitListening(addr, route, exited, 10*time.Second); err != nil {
		return "", fmt.Errorf("http server %s: %w", impl, err)
	}
	res := results.HTTP{Contender: impl, Route: route, Conns: s.conns, Rep: rep}
	res.Result, err = httpbench.Run(httpbench.RunConfig{URL: "http://" + addr + route, Conns: s.conns, Threads: s.threads,
		Warmup: s.warmup, Window: s.window, ServerPID: cmd.Process.Pid, CPUs: r.clientCPU})
	if err != nil {
		return "", err
	}
	select {
	case <-exited:
		return "", fmt.Errorf("http server %s died during the run (%v): %s", impl, waitErr, strings.TrimSpace(stderr.String()))
	default:
	}
	r.doc.HTTP = append(r.doc.HTTP, res)
	if res.ClientCPUUtil >= 0.9 && res.ServerCPUUtil < 0.9 {
		r.note(fmt.Sprintf("http %s %s: wrk was busier (CPU %.2f) than the server (%.2f): the rate may be wrk's limit",
			impl, route, res.ClientCPUUtil, res.ServerCPUUtil))
	}
	return fmt.Sprintf("%.1fk req/s, %.2f µs srv CPU/req, p99 %.0f µs, util srv %.2f wrk %.2f, %d errors",
		res.ReqPerSec/1e3, res.ServerCPUus, res.P99us, res.ServerCPUUtil, res.ClientCPUUtil, res.Errors), nil
}
