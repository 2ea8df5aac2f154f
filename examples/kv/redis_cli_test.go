//go:build !windows && linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needProgram skips the test when prog is not installed, except in CI
// (CI=true), where it fails: .ci/run installs redis-tools.
func needProgram(t *testing.T, prog string) string {
	t.Helper()
	path, err := exec.LookPath(prog)
	if err != nil {
		msg := prog + " is not installed (apt-get install -y redis-tools redis-server)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("skipping: " + msg)
	}
	return path
}

// buildKV builds this command once per test binary.
var builtKV string

func buildKV(t *testing.T) string {
	t.Helper()
	if builtKV != "" {
		return builtKV
	}
	dir, err := os.MkdirTemp("", "kv-test-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kv")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	builtKV = bin
	return bin
}

// startKV runs the kv command with args (plus -addr 127.0.0.1:0) and
// returns its port once it listens.
func startKV(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(buildKV(t), append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		addr, ok := strings.CutPrefix(strings.TrimSpace(s), "listening ")
		if !ok {
			t.Fatalf("kv printed %q", s)
		}
		return cmd, addr[strings.LastIndexByte(addr, ':')+1:]
	case <-time.After(10 * time.Second):
		t.Fatal("kv is not listening after 10 s")
	}
	return nil, ""
}

// stopKV sends SIGTERM and expects a clean exit.
func stopKV(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("kv after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kv did not exit within 10 s of SIGTERM")
	}
}

func redisCLI(t *testing.T, port string, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("redis-cli", append([]string{"-p", port}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v: %s", args, err, out)
	}
	return string(out)
}

// TestRedisCLI drives the server with the real redis-cli: single
// commands, several commands on one connection, --pipe with a thousand
// pipelined requests, and a restart that replays the append-only file.
func TestRedisCLI(t *testing.T) {
	needProgram(t, "redis-cli")
	aof := filepath.Join(t.TempDir(), "appendonly.aof")
	cmd, port := startKV(t, "-aof", aof, "-fsync", "always")
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "PONG"},
		{[]string{"ECHO", "hello world"}, "hello world"},
		{[]string{"SET", "greeting", "hello"}, "OK"},
		{[]string{"GET", "greeting"}, "hello"},
		{[]string{"SET", "greeting", "again", "NX"}, ""},
		{[]string{"GET", "nosuch"}, ""},
		{[]string{"INCR", "counter"}, "1"},
		{[]string{"INCR", "counter"}, "2"},
		{[]string{"INCR", "greeting"}, "ERR value is not an integer or out of range"},
		{[]string{"MSET", "a", "1", "b", "2"}, "OK"},
		{[]string{"MGET", "a", "b", "c"}, "1\n2\n"},
		{[]string{"EXISTS", "a", "b", "c"}, "2"},
		{[]string{"DEL", "a", "c"}, "1"},
		{[]string{"SET", "session", "x", "EX", "100"}, "OK"},
		{[]string{"TTL", "session"}, "100"},
		{[]string{"EXPIRE", "greeting", "50"}, "1"},
		{[]string{"TTL", "greeting"}, "50"},
		{[]string{"TTL", "counter"}, "-1"},
		{[]string{"SET", "short", "x", "PX", "100"}, "OK"},
		{[]string{"NOSUCH"}, "ERR unknown command 'NOSUCH', with args beginning with: "},
	}
	for _, st := range steps {
		if got := strings.TrimRight(redisCLI(t, port, "", st.args...), "\n"); got != strings.TrimRight(st.want, "\n") {
			t.Fatalf("redis-cli %v: %q, want %q", st.args, got, st.want)
		}
	}
	// Several commands on one connection, from stdin.
	if got := redisCLI(t, port, "INCR counter\nGET counter\nPING\n"); got != "3\n3\nPONG\n" {
		t.Fatalf("commands from stdin: %q", got)
	}
	// --pipe: a thousand RESP requests pipelined on one connection.
	var pipe []byte
	for i := range 1000 {
		pipe = appendCommand(pipe, []byte("SET"), []byte(fmt.Sprintf("pipe:%d", i)), []byte(fmt.Sprint(i)))
	}
	pipe = appendCommand(pipe, []byte("INCR"), []byte("counter"))
	if got := redisCLI(t, port, string(pipe), "--pipe"); !strings.Contains(got, "errors: 0, replies: 1001") {
		t.Fatalf("redis-cli --pipe: %q", got)
	}
	time.Sleep(150 * time.Millisecond) // "short" expires on the timer
	if got := redisCLI(t, port, "", "DBSIZE"); got != "1004\n" {
		t.Fatalf("DBSIZE %q, want 1004 (a deleted, short expired)", got)
	}
	stopKV(t, cmd)

	// Everything acknowledged is replayed from the append-only file.
	cmd, port = startKV(t, "-aof", aof, "-fsync", "always")
	got := strings.Split(redisCLI(t, port, "GET counter\nGET pipe:999\nTTL session\nEXISTS short a b\n"), "\n")
	// session's TTL goes on counting down across the restart (the file
	// holds its absolute expiry time): a loaded machine may take seconds.
	if ttl, _ := strconv.Atoi(got[min(2, len(got)-1)]); len(got) != 5 || got[0] != "4" || got[1] != "999" || ttl < 80 || ttl > 100 || got[3] != "1" {
		t.Fatalf("after a restart: %q", got)
	}
	stopKV(t, cmd)
}

// TestRedisBenchmarkSmoke runs redis-benchmark briefly against each
// backend, pipelined and not, and checks that every request succeeded.
func TestRedisBenchmarkSmoke(t *testing.T) {
	needProgram(t, "redis-benchmark")
	for _, backend := range []string{"io_uring", "epoll"} {
		cmd, port := startKV(t, "-backend", backend)
		for _, pipeline := range []string{"1", "16"} {
			out, err := exec.Command("redis-benchmark", "-p", port, "-c", "20", "-n", "20000", "-P", pipeline, "-t", "set,get,incr,mset", "--csv").CombinedOutput()
			if err != nil {
				t.Fatalf("redis-benchmark: %v: %s", err, out)
			}
			for _, test := range []string{`"SET"`, `"GET"`, `"INCR"`, `"MSET (10 keys)"`} {
				if !strings.Contains(string(out), test) {
					t.Fatalf("%s -P %s: no %s line in %s", backend, pipeline, test, out)
				}
			}
			if strings.Contains(string(out), "ERR") || strings.Contains(string(out), "WARNING") {
				t.Fatalf("%s -P %s: %s", backend, pipeline, out)
			}
		}
		stopKV(t, cmd)
	}
}
