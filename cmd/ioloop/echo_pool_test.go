//go:build linux

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestEchoPoolCommand runs `ioloop echo -pool 4` as a process on every
// kernel backend: it announces pool=4, echoes on more connections than the
// pool has buffers, and on SIGTERM exits with a summary that counts them.
func TestEchoPoolCommand(t *testing.T) {
	t.Setenv(cliEnv, "1")
	for _, backend := range kernelBackends(t) {
		t.Run(backend.String(), func(t *testing.T) {
			p, err := newChildServer("pooled echo server", "echo", "-addr", "127.0.0.1:0", "-backend", backend.String(), "-pool", "4", "-bufsize", "1024")
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
			if gotBackend != backend.String() || !strings.Contains(line, " pool=4") {
				t.Errorf("announced %q, want backend=%v pool=4", line, backend)
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
		})
	}
}

// TestEchoPoolFlags checks the combinations -pool rejects, before anything
// is opened.
func TestEchoPoolFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-pool", "-1"},
		{"-pool", "40000"},                 // above NewBufferPool's 32768
		{"-pool", "8", "-server", "gonet"}, // the ioloop server only
		{"-pool", "8", "-loops", "2"},      // one loop
	} {
		code, _, stderr := runCLI(append([]string{"echo"}, args...)...)
		if code != exitUsage {
			t.Errorf("echo %v: exit %d, want %d (usage): %s", args, code, exitUsage, stderr)
		}
	}
}
