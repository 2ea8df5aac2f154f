//go:build linux

// Command echobench measures an echo server started as a child process:
// it runs the command given after its flags, waits for the server's
// "listening on ADDR ..." line (which examples/c/echo and `ioloop echo`
// both print), drives it with the repository's echo load generator
// (internal/benchkit/load, as `ioloop bench echo` does), and prints the
// message rate and the server's CPU time per message, measured from /proc
// over the window. capi/bench.sh uses it to compare the C API's echo
// server with the Go API's on the same load:
//
//	go run ./capi/echobench -conns 1000 -size 64 -- taskset -c 0 examples/c/echo -addr 127.0.0.1:0
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/load"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

func main() {
	conns := flag.Int("conns", 1000, "connections, each with one message in flight")
	size := flag.Int("size", 64, "message size in bytes")
	duration := flag.Duration("duration", 5*time.Second, "measured window")
	warmup := flag.Duration("warmup", time.Second, "load before measuring")
	clientCPU := flag.Int("client-cpu", -1, "CPU to pin the load generator to (-1: none)")
	label := flag.String("label", "server", "name printed in the result line")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: echobench [flags] -- SERVER-COMMAND [ARGS...]")
		os.Exit(2)
	}
	if err := run(*label, flag.Args(), *conns, *size, *duration, *warmup, *clientCPU); err != nil {
		fmt.Fprintln(os.Stderr, "echobench:", err)
		os.Exit(1)
	}
}

func run(label string, command []string, conns, size int, duration, warmup time.Duration, clientCPU int) error {
	if err := proc.RaiseNoFile(uint64(conns) + 64); err != nil {
		return err
	}
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("server exited before listening: %w", err)
	}
	fields := strings.Fields(line)
	if len(fields) < 3 || fields[0] != "listening" || fields[1] != "on" {
		return fmt.Errorf("server printed %q, want \"listening on ADDR ...\"", line)
	}
	addr, err := netip.ParseAddrPort(fields[2])
	if err != nil {
		return err
	}
	meter, err := load.NewServerMeter(cmd.Process.Pid)
	if err != nil {
		return err
	}
	if clientCPU >= 0 {
		if err := proc.PinProcess(clientCPU); err != nil {
			return err
		}
	}
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		return err
	}
	defer loop.Close()
	cl := load.NewEchoClient(loop, addr, conns, size)
	res, err := load.RunEcho(cl, size, load.EchoConfig{
		ConnectTimeout: 30 * time.Second, Warmup: warmup, Duration: duration, Server: meter,
	})
	closeErr := cl.Close()
	if err != nil {
		return err
	}
	if closeErr != nil {
		return closeErr
	}
	serverCPU := meter.CPU.Total()
	fmt.Printf("echo label=%s conns=%d size=%d msgs_per_sec=%.0f server_cpu_us_per_msg=%.3f server_cpu_util=%.2f p50_us=%.1f client_cpu_us_per_msg=%.3f\n",
		label, conns, size, res.Interval.PerSecond(res.Messages), proc.MicrosPer(serverCPU, res.Messages),
		res.Interval.Utilization(serverCPU), float64(res.P50)/1e3, res.Interval.CPUMicrosPer(res.Messages))
	return nil
}
