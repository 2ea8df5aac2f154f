// Package kv is the suite's key-value workload: redis-benchmark (Debian's
// redis-tools) against redis-server and against examples/kv, ioloop's
// RESP2 server, side by side in one run. The server runs pinned to one
// CPU and redis-benchmark to another; each run is one redis-benchmark
// test (SET or GET) with a number of clients and a pipeline depth, and
// reports what redis-benchmark measured (requests per second, latency
// percentiles) and the server's CPU time per request, from
// /proc/PID/stat (utime+stime) before and after.
package kv

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// Contenders are the servers, in table order: Debian's redis-server (one
// thread serving, persistence off) and examples/kv on io_uring and epoll
// (no append-only file, as redis-server runs without one).
var Contenders = []string{"redis-server", "ioloop-kv-io_uring", "ioloop-kv-epoll"}

// Tests are the redis-benchmark tests each configuration runs, in order:
// GET follows SET, so that it finds its key.
var Tests = []string{"set", "get"}

// Available reports whether redis-benchmark and redis-server are
// installed, or why not.
func Available() (string, bool) {
	for _, prog := range []string{"redis-benchmark", "redis-server"} {
		if _, err := exec.LookPath(prog); err != nil {
			return prog + " not installed (apt-get install -y redis-tools redis-server)", false
		}
	}
	out, err := exec.Command("redis-benchmark", "--version").Output()
	if err != nil {
		return "redis-benchmark --version failed: " + err.Error(), false
	}
	return strings.TrimSpace(string(out)), true
}

// Build compiles examples/kv of the repository at root into binary.
func Build(root, binary string) error {
	cmd := exec.Command("go", "build", "-o", binary, "./examples/kv")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./examples/kv: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Config is one measured configuration.
type Config struct {
	Contender string
	Clients   int // redis-benchmark -c
	Pipeline  int // redis-benchmark -P
	Requests  int // redis-benchmark -n, per test
	// KVBinary is examples/kv built by Build.
	KVBinary             string
	ServerCPU, ClientCPU []int // empty: not pinned
}

// Result is one redis-benchmark test against one server.
type Result struct {
	Test              string  `json:"test"` // "SET" or "GET"
	Requests          int     `json:"requests"`
	RequestsPerSec    float64 `json:"requests_per_sec"`
	P50us             float64 `json:"p50_us"`
	P99us             float64 `json:"p99_us"`
	ServerCPUusPerReq float64 `json:"server_cpu_us_per_req"`
	ServerCPUUtil     float64 `json:"server_cpu_util"` // server CPU time over wall time of the test
	// ClientCPUUtil is redis-benchmark's: near 1.0 it, not the server, set
	// the rate.
	ClientCPUUtil float64 `json:"client_cpu_util"`
}

// Run starts cfg's server, runs every test of Tests against it and stops
// it.
func Run(cfg Config) ([]Result, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var cmd *exec.Cmd
	switch cfg.Contender {
	case "redis-server":
		cmd = exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning")
	case "ioloop-kv-io_uring", "ioloop-kv-epoll":
		backend := strings.TrimPrefix(cfg.Contender, "ioloop-kv-")
		cmd = exec.Command(cfg.KVBinary, "-addr", addr, "-backend", backend)
		// One CPU: the server is one loop, and the Go runtime's background
		// work (the garbage collector) runs on the same CPU, as taskset
		// leaves it.
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	default:
		return nil, fmt.Errorf("unknown kv server %q (want one of %v)", cfg.Contender, Contenders)
	}
	var stderr proc.LockedBuffer
	cmd.Stdout, cmd.Stderr = nil, &stderr
	if err := proc.StartPinned(cmd, cfg.ServerCPU); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	if err := awaitPort(addr, exited); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", cfg.Contender, err, strings.TrimSpace(stderr.String()))
	}
	var out []Result
	for _, test := range Tests {
		before, err := proc.ProcessCPU(cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		began := time.Now()
		res, err := benchmark(port, test, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Contender, err)
		}
		wall := time.Since(began)
		after, err := proc.ProcessCPU(cmd.Process.Pid)
		if err != nil {
			return nil, err
		}
		cpu := after.Sub(before).Total()
		res.Requests = cfg.Requests
		res.ServerCPUusPerReq = proc.MicrosPer(cpu, int64(cfg.Requests))
		res.ServerCPUUtil = cpu.Seconds() / wall.Seconds()
		out = append(out, res)
	}
	select {
	case err := <-exited:
		exited <- err
		return nil, fmt.Errorf("%s died during the run (%v): %s", cfg.Contender, err, strings.TrimSpace(stderr.String()))
	default:
	}
	return out, nil
}

// benchmark runs one redis-benchmark test and parses its CSV line:
//
//	"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
func benchmark(port int, test string, cfg Config) (Result, error) {
	cmd := exec.Command("redis-benchmark", "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-c", strconv.Itoa(cfg.Clients), "-n", strconv.Itoa(cfg.Requests), "-P", strconv.Itoa(cfg.Pipeline),
		"-t", test, "--csv")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := proc.StartPinned(cmd, cfg.ClientCPU); err != nil {
		return Result{}, err
	}
	began := time.Now()
	if err := proc.WaitTimeout(cmd, 2*time.Minute); err != nil {
		return Result{}, fmt.Errorf("redis-benchmark -t %s: %v: %s", test, err, strings.TrimSpace(stderr.String()))
	}
	wall := time.Since(began)
	res, err := parseCSV(stdout.Bytes(), test)
	if st := cmd.ProcessState; st != nil {
		res.ClientCPUUtil = (st.UserTime() + st.SystemTime()).Seconds() / wall.Seconds()
	}
	return res, err
}

func parseCSV(raw []byte, test string) (Result, error) {
	records, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		return Result{}, fmt.Errorf("redis-benchmark printed %q: %w", raw, err)
	}
	for _, rec := range records {
		if len(rec) < 7 || !strings.EqualFold(rec[0], test) {
			continue
		}
		var v [3]float64
		for i, field := range []string{rec[1], rec[4], rec[6]} {
			if v[i], err = strconv.ParseFloat(field, 64); err != nil {
				return Result{}, fmt.Errorf("redis-benchmark field %q: %w", field, err)
			}
		}
		return Result{Test: strings.ToUpper(test), RequestsPerSec: v[0], P50us: v[1] * 1e3, P99us: v[2] * 1e3}, nil
	}
	return Result{}, fmt.Errorf("redis-benchmark printed no %s line: %q", strings.ToUpper(test), raw)
}

// freePort asks the kernel for a free port of 127.0.0.1. Another process
// could take it before the server binds it; on this machine nothing does.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// awaitPort waits until the server accepts connections and answers PING.
func awaitPort(addr string, exited chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("exited before listening (%v)", err)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Write([]byte("PING\r\n"))
			var line string
			if err == nil {
				line, err = bufio.NewReader(c).ReadString('\n')
			}
			c.Close()
			if err == nil && strings.HasPrefix(line, "+PONG") {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("not answering PING after 10 s")
}

// DefaultBinary is where the suite builds examples/kv.
func DefaultBinary() string { return filepath.Join(os.TempDir(), "ioloop-bench-kv") }
