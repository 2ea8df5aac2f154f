//go:build !windows

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
)

func newTestLoop(t testing.TB, backend ioloop.Backend) *ioloop.Loop {
	t.Helper()
	l, err := ioloop.New(ioloop.Options{Backend: backend})
	if err != nil {
		t.Skipf("backend %v: %v", backend, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// run executes requests (inline commands, one per line) on a session and
// returns the replies.
func run(t testing.TB, s *server, sess *session, requests ...string) string {
	t.Helper()
	out := feed(t, s, sess, requests...)
	sess.out = sess.out[:0]
	return out
}

// feed is run without taking the replies out of the session.
func feed(t testing.TB, s *server, sess *session, requests ...string) string {
	t.Helper()
	p := parser{inline: true}
	var in []byte
	for _, r := range requests {
		in = append(in, r...)
		in = append(in, "\r\n"...)
	}
	n, err := s.execute(sess, &p, in)
	if err != nil || n != len(in) {
		t.Fatalf("execute consumed %d of %d: %v", n, len(in), err)
	}
	return string(sess.out)
}

func TestCommands(t *testing.T) {
	s := newServer(newTestLoop(t, ioloop.BackendAuto))
	sess := s.newSession()
	steps := []struct{ req, want string }{
		{"PING", "+PONG\r\n"},
		{"ping hi", "$2\r\nhi\r\n"},
		{"ECHO hello", "$5\r\nhello\r\n"},
		{"GET k", "$-1\r\n"},
		{"SET k v1", "+OK\r\n"},
		{"get k", "$2\r\nv1\r\n"},
		{"SET k v2 NX", "$-1\r\n"},
		{"SET n 1 XX", "$-1\r\n"},
		{"SET n 41 NX", "+OK\r\n"},
		{"INCR n", ":42\r\n"},
		{"DECR n", ":41\r\n"},
		{"INCR k", "-ERR value is not an integer or out of range\r\n"},
		{"SET big 9223372036854775807", "+OK\r\n"},
		{"INCR big", "-ERR increment or decrement would overflow\r\n"},
		{"EXISTS k n nope k", ":3\r\n"},
		{"MSET a 1 b 2", "+OK\r\n"},
		{"MGET a nope b", "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n"},
		{"MSET a", "-ERR wrong number of arguments for 'mset' command\r\n"},
		{"DEL a b nope", ":2\r\n"},
		{"TTL k", ":-1\r\n"},
		{"TTL nope", ":-2\r\n"},
		{"EXPIRE k 100", ":1\r\n"},
		{"TTL k", ":100\r\n"},
		{"EXPIRE nope 100", ":0\r\n"},
		{"SET k v3", "+OK\r\n"},
		{"TTL k", ":-1\r\n"}, // SET clears the expiry
		{"SET k v4 EX 50", "+OK\r\n"},
		{"TTL k", ":50\r\n"},
		{"SET k v5 KEEPTTL", "+OK\r\n"},
		{"TTL k", ":50\r\n"},
		{"SET k v6 PX 2500 GET", "$2\r\nv5\r\n"},
		{"PTTL k", ":2500\r\n"}, // less the milliseconds since the SET (below)
		{"SET k v EX 0", "-ERR invalid expire time in 'set' command\r\n"},
		{"SET k v EX x", "-ERR value is not an integer or out of range\r\n"},
		{"SET k v EX 1 PX 1", "-ERR syntax error\r\n"},
		{"SET k v NX XX", "-ERR syntax error\r\n"},
		{"EXPIRE n -1", ":1\r\n"}, // a time in the past deletes the key
		{"EXISTS n", ":0\r\n"},
		{"GET", "-ERR wrong number of arguments for 'get' command\r\n"},
		{"NOSUCH a b", "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n"},
		{"DBSIZE", ":2\r\n"},
		{"FLUSHALL", "+OK\r\n"},
		{"DBSIZE", ":0\r\n"},
		{"CONFIG GET save", "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"},
		{"CONFIG GET maxmemory", "*0\r\n"},
		{"SELECT 0", "+OK\r\n"},
		{"SELECT 1", "-ERR DB index is out of range\r\n"},
	}
	var setAt time.Time
	for _, st := range steps {
		if st.req == "SET k v6 PX 2500 GET" {
			setAt = time.Now()
		}
		got := run(t, s, sess, st.req)
		if st.req == "PTTL k" {
			// The store reads the real clock: a loaded machine may let
			// milliseconds pass between the SET and the PTTL, and the TTL
			// may be short by exactly those.
			passedMs := int(time.Since(setAt).Milliseconds()) + 1
			var ms int
			if _, err := fmt.Sscanf(got, ":%d\r\n", &ms); err != nil || ms > 2500 || ms < 2500-passedMs {
				t.Fatalf("%s: got %q, want :%d to :2500 (%d ms passed since the SET)", st.req, got, 2500-passedMs, passedMs)
			}
			continue
		}
		if got != st.want {
			t.Fatalf("%s: got %q, want %q", st.req, got, st.want)
		}
	}
	// Pipelined: every reply, in order, in one output.
	in := []byte("SET p 1\r\nINCR p\r\nGET p\r\nQUIT\r\nGET p\r\n")
	n, err := s.execute(sess, &parser{inline: true}, in)
	if got := string(sess.out); got != "+OK\r\n:2\r\n$1\r\n2\r\n+OK\r\n" || !sess.quit || err != nil || n != len(in)-len("GET p\r\n") {
		t.Fatalf("pipelined: %q, quit %v, consumed %d, %v", got, sess.quit, n, err)
	}
}

// Keys expire lazily (when touched) and actively, on the loop's timer,
// whose deadline follows the earliest expiry in the heap.
func TestExpiry(t *testing.T) {
	l := newTestLoop(t, ioloop.BackendAuto)
	s := newServer(l)
	sess := s.newSession()
	run(t, s, sess, "SET late v PX 400", "SET soon v PX 30", "SET never v", "SET gone v PX 60", "PEXPIRE gone 5000")
	if s.armedMs == 0 {
		t.Fatal("no expiry timer armed")
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(s.store.keys) > 3 && time.Now().Before(deadline) {
		l.RunFor(10 * time.Millisecond)
	}
	if _, ok := s.store.keys["soon"]; ok || len(s.store.keys) != 3 {
		t.Fatalf("after soon's expiry: %d keys, soon there: %v", len(s.store.keys), ok)
	}
	for len(s.store.keys) > 2 && time.Now().Before(deadline) {
		l.RunFor(10 * time.Millisecond)
	}
	if _, ok := s.store.keys["late"]; ok {
		t.Fatal("late did not expire on the timer")
	}
	if got := run(t, s, sess, "EXISTS never gone"); got != ":2\r\n" {
		t.Fatalf("never and gone: %q", got)
	}
	// Lazy: an expiry due but not yet collected by the timer is honoured.
	e := s.store.keys["gone"]
	s.store.setExpiry(e, s.nowMs()-1)
	if got := run(t, s, sess, "GET gone"); got != "$-1\r\n" {
		t.Fatalf("GET of an expired key: %q", got)
	}
}

func TestHeapOrder(t *testing.T) {
	st := newStore(func() int64 { return 0 })
	for i, ms := range []int64{50, 10, 40, 30, 20, 60, 5} {
		st.set([]byte(strings.Repeat("k", i+1)), nil, ms)
	}
	st.remove(st.keys["kkk"]) // 40
	st.setExpiry(st.keys["kkkkkk"], 1)
	var got []int64
	for {
		ms, ok := st.nextExpiry()
		if !ok {
			break
		}
		got = append(got, ms)
		st.expireDue(ms)
	}
	want := []int64{1, 5, 10, 20, 30, 50}
	if len(got) != len(want) {
		t.Fatalf("expiry order %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("expiry order %v, want %v", got, want)
		}
	}
}

// TestAllocsGetSet: GET, and SET of an existing key, allocate nothing in
// steady state (multibulk requests, as clients send them).
func TestAllocsGetSet(t *testing.T) {
	s := newServer(newTestLoop(t, ioloop.BackendAuto))
	sess := s.newSession()
	p := parser{}
	set := appendCommand(nil, []byte("SET"), []byte("key:000000000042"), []byte("xxx"))
	get := appendCommand(nil, []byte("GET"), []byte("key:000000000042"))
	pipeline := append(append([]byte(nil), set...), get...)
	for name, in := range map[string][]byte{"SET": set, "GET": get, "SET+GET": pipeline} {
		s.execute(sess, &p, in)
		sess.out = sess.out[:0]
		allocs := testing.AllocsPerRun(1000, func() {
			if n, err := s.execute(sess, &p, in); err != nil || n != len(in) {
				t.Fatal(n, err)
			}
			sess.out = sess.out[:0]
		})
		if allocs != 0 && !raceEnabled {
			t.Errorf("%s: %.1f allocations per request, want 0", name, allocs)
		}
	}
}
