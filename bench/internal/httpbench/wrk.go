package httpbench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// WrkVersion reports wrk's version line, and whether wrk can run.
func WrkVersion() (string, bool) {
	path, err := exec.LookPath("wrk")
	if err != nil {
		return "wrk not found (apt-get install -y wrk)", false
	}
	// wrk -v prints its version and usage and exits with status 1.
	out, _ := exec.Command(path, "-v").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	if !strings.HasPrefix(line, "wrk ") {
		return fmt.Sprintf("%s -v printed %q", path, line), false
	}
	return strings.TrimSpace(line), true
}

// Result is one measured wrk run against one server.
type Result struct {
	Requests      int64   `json:"requests"`
	Seconds       float64 `json:"seconds"`
	ReqPerSec     float64 `json:"req_per_sec"`
	P50us         float64 `json:"p50_us"`
	P99us         float64 `json:"p99_us"`
	ServerCPUus   float64 `json:"server_cpu_us_per_req"` // user + system, from /proc/PID/stat
	ServerUserus  float64 `json:"server_user_us_per_req"`
	ServerCPUUtil float64 `json:"server_cpu_util"`
	ClientCPUUtil float64 `json:"client_cpu_util"` // wrk's, from its rusage
	Errors        int64   `json:"errors"`          // socket errors and non-2xx responses
	ServerRSS     int64   `json:"server_rss_bytes"`
}

// RunConfig is one measured run: wrk with Conns connections (Threads
// threads) for Warmup, then again for Window, measured, against URL
// served by process ServerPID; wrk runs bound to CPUs.
type RunConfig struct {
	URL       string
	Conns     int
	Threads   int
	Warmup    time.Duration
	Window    time.Duration
	ServerPID int
	CPUs      []int
}

// Run warms up the server with one wrk run and measures a second: its
// rate and latency as wrk reports them, and the server's CPU time over
// the measured run, divided by the requests wrk counted.
func Run(cfg RunConfig) (Result, error) {
	if cfg.Warmup > 0 {
		if _, _, err := wrk(cfg, cfg.Warmup); err != nil {
			return Result{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	before, err := proc.ProcessCPU(cfg.ServerPID)
	if err != nil {
		return Result{}, err
	}
	began := time.Now()
	out, clientCPU, err := wrk(cfg, cfg.Window)
	wall := time.Since(began)
	if err != nil {
		return Result{}, err
	}
	after, err := proc.ProcessCPU(cfg.ServerPID)
	if err != nil {
		return Result{}, err
	}
	res, err := parseWrk(out)
	if err != nil {
		return res, err
	}
	if res.Requests == 0 {
		return res, fmt.Errorf("wrk completed no request:\n%s", out)
	}
	cpu := after.Sub(before)
	res.ServerCPUus = proc.MicrosPer(cpu.Total(), res.Requests)
	res.ServerUserus = proc.MicrosPer(cpu.User, res.Requests)
	res.ServerCPUUtil = cpu.Total().Seconds() / wall.Seconds()
	res.ClientCPUUtil = clientCPU.Seconds() / wall.Seconds()
	if res.ServerRSS, err = proc.Memory(cfg.ServerPID, "VmRSS"); err != nil {
		return res, err
	}
	return res, nil
}

// wrk runs wrk for d and returns its output and CPU time.
func wrk(cfg RunConfig, d time.Duration) (string, time.Duration, error) {
	secs := max(int((d+time.Second/2)/time.Second), 1)
	cmd := exec.Command("wrk", "-t", strconv.Itoa(cfg.Threads), "-c", strconv.Itoa(cfg.Conns),
		"-d", strconv.Itoa(secs)+"s", "--latency", "--timeout", "5s", cfg.URL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := proc.StartPinned(cmd, cfg.CPUs); err != nil {
		return "", 0, err
	}
	if err := proc.WaitTimeout(cmd, time.Duration(secs)*time.Second+30*time.Second); err != nil {
		return "", 0, fmt.Errorf("wrk: %v: %s%s", err, stdout.String(), stderr.String())
	}
	var cpu time.Duration
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return stdout.String(), cpu, nil
}

var (
	wrkRequests  = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),`)
	wrkRate      = regexp.MustCompile(`(?m)^Requests/sec:\s*([\d.]+)`)
	wrkLatency   = regexp.MustCompile(`(?m)^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	wrkSocketErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx    = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads wrk's report (with --latency).
func parseWrk(out string) (Result, error) {
	var res Result
	m := wrkRequests.FindStringSubmatch(out)
	if m == nil {
		return res, fmt.Errorf("no request count in wrk's output:\n%s", out)
	}
	res.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	res.Seconds = toMicros(m[2], m[3]) / 1e6
	if m = wrkRate.FindStringSubmatch(out); m == nil {
		return res, fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	res.ReqPerSec, _ = strconv.ParseFloat(m[1], 64)
	for _, m := range wrkLatency.FindAllStringSubmatch(out, -1) {
		if m[1] == "50" {
			res.P50us = toMicros(m[2], m[3])
		} else {
			res.P99us = toMicros(m[2], m[3])
		}
	}
	if res.P99us == 0 {
		return res, fmt.Errorf("no latency distribution in wrk's output (--latency):\n%s", out)
	}
	if m = wrkSocketErr.FindStringSubmatch(out); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			res.Errors += n
		}
	}
	if m = wrkNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		res.Errors += n
	}
	return res, nil
}

func toMicros(v, unit string) float64 {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "ms":
		return f * 1e3
	case "s":
		return f * 1e6
	case "m":
		return f * 60e6
	}
	return f
}

// FreeAddr returns a loopback address nothing listens on, for a server
// that is told where to listen.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// AwaitListening waits until addr accepts connections and answers GET
// path with a 200, or exited is closed (the server's end), or timeout
// passes.
func AwaitListening(addr, path string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := probe(addr, path)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not answering on %s after %v: %w", addr, timeout, err)
		}
		select {
		case <-exited:
			return errors.New("exited before answering")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// probe sends one request and checks for a 200.
func probe(addr, path string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "HTTP/1.1 200 ") {
		return errors.New("answered " + strings.TrimSpace(line))
	}
	return nil
}
