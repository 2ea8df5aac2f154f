//go:build !windows

package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
)

// startWithAOF starts a server with an append-only file on l and runs the
// loop until it has replayed it.
func startWithAOF(t *testing.T, l *ioloop.Loop, path string, policy fsyncPolicy) *server {
	t.Helper()
	s := newServer(l)
	ready := false
	s.onFail = func(reason string) { t.Fatalf("server failed: %s", reason) }
	s.openAOF(path, policy, func() { ready = true })
	runLoopUntil(t, l, func() bool { return ready })
	return s
}

func runLoopUntil(t testing.TB, l *ioloop.Loop, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		if err := l.RunFor(time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAOFReplayAndGroupCommit(t *testing.T) {
	for _, backend := range []ioloop.Backend{ioloop.BackendIOUring, ioloop.BackendEpoll} {
		t.Run(backend.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "appendonly.aof")
			l := newTestLoop(t, backend)
			s := startWithAOF(t, l, path, fsyncAlways)
			a, b := s.newSession(), s.newSession()
			released := 0
			a.release = func(*session) { released++ }
			b.release = func(*session) { released++ }
			feed(t, s, a, "SET k1 v1", "GET k1", "INCR n", "SET t v EX 1000", "SET gone v", "MSET m1 x m2 y")
			feed(t, s, b, "DEL gone", "EXPIRE k1 500", "GET nope")
			// Nothing is acknowledged before the batch is durable; the replies
			// are held, in order.
			if len(a.deliverable()) != 0 || len(b.deliverable()) != 0 || a.heldFrom != 0 {
				t.Fatalf("replies deliverable before the write: %q / %q", a.deliverable(), b.deliverable())
			}
			runLoopUntil(t, l, func() bool { return released == 2 })
			if s.aof.durable != s.aof.end() || string(a.deliverable()) != "+OK\r\n$2\r\nv1\r\n:1\r\n+OK\r\n+OK\r\n+OK\r\n" {
				t.Fatalf("after the write: durable %d of %d, replies %q", s.aof.durable, s.aof.end(), a.deliverable())
			}
			// One batch (one checksum record) for both sessions' writes.
			image, _ := os.ReadFile(path)
			if n := countCRC(image); n != 1 {
				t.Fatalf("%d batches, want 1 (group commit)", n)
			}
			l.Close()

			l2 := newTestLoop(t, backend)
			s2 := startWithAOF(t, l2, path, fsyncAlways)
			sess := s2.newSession()
			got := run(t, s2, sess, "GET k1", "GET n", "EXISTS gone", "MGET m1 m2", "TTL k1", "TTL t")
			if got != "$2\r\nv1\r\n$1\r\n1\r\n:0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n:500\r\n:1000\r\n" {
				t.Fatalf("after replay: %q", got)
			}
		})
	}
}

func countCRC(image []byte) int {
	n := 0
	p := parser{}
	for pos := 0; pos < len(image); {
		args, m, err := p.parse(image[pos:])
		if err != nil {
			break
		}
		if len(args) > 0 && string(args[0]) == crcName {
			n++
		}
		pos += m
	}
	return n
}

// A torn last batch (a crash in the middle of its write) is dropped and
// cut from the file, whatever it looks like: cut short, zeroed in the
// middle, or garbage.
func TestAOFTornTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "appendonly.aof")
	l := newTestLoop(t, ioloop.BackendAuto)
	s := startWithAOF(t, l, path, fsyncAlways)
	sess := s.newSession()
	sess.release = func(*session) {}
	run(t, s, sess, "SET a 1")
	runLoopUntil(t, l, func() bool { return s.aof.durable == s.aof.end() })
	good := s.aof.end()
	run(t, s, sess, "SET a 2", "SET b 2")
	runLoopUntil(t, l, func() bool { return s.aof.durable == s.aof.end() })
	l.Close()
	whole, _ := os.ReadFile(path)
	second := append([]byte(nil), whole[good:]...)
	torn := map[string][]byte{
		"cut":     second[:len(second)-3],
		"zeroed":  append(append(append([]byte(nil), second[:10]...), make([]byte, 8)...), second[18:]...),
		"garbage": []byte("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n9\r\n"),
	}
	for name, tail := range torn {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(path, append(append([]byte(nil), whole[:good]...), tail...), 0o644)
			l := newTestLoop(t, ioloop.BackendAuto)
			s := startWithAOF(t, l, path, fsyncAlways)
			if got := run(t, s, s.newSession(), "GET a", "EXISTS b"); got != "$1\r\n1\r\n:0\r\n" {
				t.Fatalf("after a torn tail: %q", got)
			}
			if fi, _ := os.Stat(path); fi.Size() != good {
				t.Fatalf("file is %d bytes, want %d (cut at the last whole batch)", fi.Size(), good)
			}
		})
	}
}
