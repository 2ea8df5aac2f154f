//go:build linux

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestEchoPoolCommand runs `ioloop echo -pool 4` as a process on every
// kernel backend, on one loop and as a group of two (a pool per loop): it
// announces pool=4, echoes on more connections than the pool has buffers,
// and on SIGTERM exits with a summary that counts them.
func TestEchoPoolCommand(t *testing.T) {
	t.Setenv(cliEnv, "1")
	for _, backend := range kernelBackends(t) {
		for _, loops := range []string{"1", "2"} {
			t.Run(backend.String()+"/loops="+loops, func(t *testing.T) {
				testEchoPoolCommand(t, backend.String(), loops)
			})
		}
	}
}

func testEchoPoolCommand(t *testing.T, backend, loops string) {
	p, err := newChildServer("pooled echo server", "echo", "-addr", "127.0.0.1:0", "-backend", backend, "-loops", loops, "-pool", "4", "-bufsize", "1024")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.launch(-1); err != nil {
		t.Fatal(err)
	}
	defer p.kill()
	line, err := p.listening()
	if err != nil {
		t.Fatal(err)
	}
	addr, gotBackend, err := parseListening(line, "server", serverIOLoop)
	if err != nil {
		t.Fatal(err)
	}
	if gotBackend != backend || !strings.Contains(line, " pool=4") || !strings.Contains(line, " loops="+loops) {
		t.Errorf("announced %q, want backend=%v loops=%s pool=4", line, backend, loops)
	}
	const conns, rounds, size = 12, 4, 100
	clients := dialEchoClients(t, addr, conns, 10*time.Second)
	echoRounds(t, clients, rounds, size)
	for _, c := range clients {
		_ = c.Close()
	}
	if err := p.terminate(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("\nsummary connections=%d active=0 ", conns)
	if !strings.Contains(p.stdout.String(), want) || !strings.Contains(p.stdout.String(), fmt.Sprintf(" bytes=%d\n", conns*rounds*size)) {
		t.Errorf("printed %q, want a line starting %q with bytes=%d", p.stdout.String(), want[1:], conns*rounds*size)
	}
}

// TestEchoPoolDefault checks that the ioloop server is the pooled one
// unless -pool 0 asks for the plain variant (issue 15: pool and multishot
// by default), and that -depth alone selects the plain UDP variant.
func TestEchoPoolDefault(t *testing.T) {
	t.Setenv(cliEnv, "1")
	for _, c := range []struct {
		args []string
		want string // in the announcement; "" for no pool field
	}{
		{nil, fmt.Sprintf(" pool=%d", defaultPoolBuffers)},
		{[]string{"-pool", "0"}, ""},
		{[]string{"-udp"}, fmt.Sprintf(" multishot=1 pool=%d", defaultPoolBuffers)},
		{[]string{"-udp", "-depth", "4"}, ""},
		{[]string{"-server", "gonet"}, ""},
	} {
		p, err := newChildServer("echo server", append([]string{"echo", "-addr", "127.0.0.1:0"}, c.args...)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.launch(-1); err != nil {
			t.Fatal(err)
		}
		line, err := p.listening()
		p.kill()
		switch {
		case err != nil:
			t.Errorf("echo %v: %v", c.args, err)
		case c.want != "" && !strings.Contains(line, c.want):
			t.Errorf("echo %v announced %q, want %q in it", c.args, line, c.want)
		case c.want == "" && strings.Contains(line, " pool="):
			t.Errorf("echo %v announced %q, want no pool", c.args, line)
		}
	}
}

// TestEchoPoolFlags checks the combinations -pool rejects, before anything
// is opened.
func TestEchoPoolFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-pool", "-1"},
		{"-pool", "40000"},                    // above NewBufferPool's 32768
		{"-pool", "8", "-server", "gonet"},    // the ioloop server only
		{"-pool", "8", "-udp", "-depth", "4"}, // one RecvFromMultishot, not -depth receives
	} {
		code, _, stderr := runCLI(append([]string{"echo"}, args...)...)
		if code != exitUsage {
			t.Errorf("echo %v: exit %d, want %d (usage): %s", args, code, exitUsage, stderr)
		}
	}
}
