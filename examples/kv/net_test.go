//go:build !windows

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
)

// testServer runs a server in-process on its own loop and goroutine.
type testServer struct {
	addr   string
	l      *ioloop.Loop
	in     *instance
	exited chan error
}

// startTestServer serves on a free port of 127.0.0.1 with backend, with
// an append-only file at aofPath unless it is empty, until the test ends.
func startTestServer(t *testing.T, backend ioloop.Backend, aofPath string, policy fsyncPolicy) *testServer {
	t.Helper()
	ts := &testServer{exited: make(chan error, 1)}
	listening := make(chan error, 1)
	go func() {
		l, err := ioloop.New(ioloop.Options{Backend: backend})
		if err != nil {
			listening <- err
			return
		}
		defer l.Close()
		ts.l = l
		in := startInstance(l, "127.0.0.1:0", aofPath, policy, false, connOptions(), func(in *instance) {
			ts.in, ts.addr = in, in.net.ln.Addr()
			listening <- nil // the test reads ts once this is received
		})
		err = in.run()
		if ts.addr == "" {
			listening <- err
		}
		ts.exited <- err
	}()
	if err := <-listening; err != nil {
		t.Skipf("backend %v: %v", backend, err)
	}
	t.Cleanup(func() {
		ioloop.Post(ts.l, ts.in, (*instance).shutdown)
		select {
		case err := <-ts.exited:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not shut down within 10 s")
		}
	})
	return ts
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// readReplies reads n replies and returns them as one string.
func readReplies(t *testing.T, r *bufio.Reader, n int) string {
	t.Helper()
	var all []byte
	var pending []byte
	for got := 0; got < n; {
		reply, size, err := parseReply(pending)
		if err == errIncomplete {
			chunk := make([]byte, 4096)
			m, err := r.Read(chunk)
			if err != nil {
				t.Fatalf("after %d of %d replies (%q): %v", got, n, all, err)
			}
			pending = append(pending, chunk[:m]...)
			continue
		}
		if err != nil {
			t.Fatalf("bad reply %q: %v", pending, err)
		}
		_ = reply
		all = append(all, pending[:size]...)
		pending = pending[size:]
		got++
	}
	if len(pending) > 0 {
		t.Fatalf("%d bytes after %d replies: %q", len(pending), n, pending)
	}
	return string(all)
}

func forKernelBackends(t *testing.T, f func(t *testing.T, backend ioloop.Backend)) {
	for _, b := range []ioloop.Backend{ioloop.BackendIOUring, ioloop.BackendEpoll} {
		t.Run(b.String(), func(t *testing.T) { f(t, b) })
	}
}

// A request split anywhere, down to one byte per segment, is executed
// once it is whole, and only then.
func TestPartialFrames(t *testing.T) {
	forKernelBackends(t, func(t *testing.T, backend ioloop.Backend) {
		ts := startTestServer(t, backend, "", fsyncNo)
		c, r := dial(t, ts.addr)
		req := appendCommand(nil, []byte("SET"), []byte("split"), bytes.Repeat([]byte("v"), 100))
		req = append(req, "GET split\r\n"...)
		for i := range req {
			if _, err := c.Write(req[i : i+1]); err != nil {
				t.Fatal(err)
			}
			if i%16 == 0 {
				time.Sleep(time.Millisecond) // let the server see the prefix alone
			}
		}
		want := "+OK\r\n$100\r\n" + strings.Repeat("v", 100) + "\r\n"
		if got := readReplies(t, r, 2); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
		// A value larger than the connection's input buffer, in two halves.
		big := bytes.Repeat([]byte("b"), 100<<10)
		req = appendCommand(nil, []byte("SET"), []byte("big"), big)
		c.Write(req[:len(req)/2])
		time.Sleep(5 * time.Millisecond)
		c.Write(req[len(req)/2:])
		c.Write([]byte("STRLEN big\r\nGET big\r\n"))
		got := readReplies(t, r, 3)
		if want := "+OK\r\n-ERR unknown command 'STRLEN', with args beginning with: 'big' \r\n$102400\r\n" + string(big) + "\r\n"; got != want {
			t.Fatalf("big value: %d bytes back, want %d", len(got), len(want))
		}
	})
}

// Pipelining: the replies to many requests written at once come back in
// order, and (since they arrive in few reads) in few sends.
func TestPipelining(t *testing.T) {
	forKernelBackends(t, func(t *testing.T, backend ioloop.Backend) {
		ts := startTestServer(t, backend, "", fsyncNo)
		c, r := dial(t, ts.addr)
		var req, want []byte
		for i := range 200 {
			key := []byte(fmt.Sprintf("key:%d", i%10))
			req = appendCommand(req, []byte("INCR"), key)
			want = appendInt(want, int64(i/10+1))
		}
		req = append(req, "PING\r\n"...)
		want = append(want, "+PONG\r\n"...)
		before := sendsAndRecvs(t, ts)
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if got := readReplies(t, r, 201); got != string(want) {
			t.Fatalf("pipelined replies: got %q, want %q", got, want)
		}
		after := sendsAndRecvs(t, ts)
		sends, recvs := after[0]-before[0], after[1]-before[1]
		if sends > recvs {
			t.Fatalf("%d sends for %d receives: replies to one read must go out in one send", sends, recvs)
		}
		t.Logf("%d requests: %d receives, %d sends", 201, recvs, sends)
		// A protocol error: the replies before it, an error, then the close.
		c.Write([]byte("PING\r\n*1\r\n+bad\r\nPING\r\n"))
		if got := readReplies(t, r, 2); got != "+PONG\r\n-ERR Protocol error: expected '$', got '+'\r\n" {
			t.Fatalf("protocol error: %q", got)
		}
		if _, err := r.ReadByte(); err != io.EOF {
			t.Fatalf("after a protocol error: %v, want the connection closed", err)
		}
	})
}

// sendsAndRecvs returns the server loop's completed send and receive
// operations, read on the loop.
func sendsAndRecvs(t *testing.T, ts *testServer) [2]uint64 {
	t.Helper()
	got := make(chan [2]uint64, 1)
	ioloop.Post(ts.l, ts.l, func(l *ioloop.Loop) {
		st := l.Stats()
		var v [2]uint64
		for _, op := range []string{"Send", "SendMsg", "Writev", "SendZC"} {
			v[0] += st.Op(op).Completed
		}
		for _, op := range []string{"Recv", "RecvMultishot", "RecvPooled", "Read"} {
			v[1] += st.Op(op).Completed
		}
		got <- v
	})
	select {
	case v := <-got:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("the server loop did not run a posted function")
	}
	return [2]uint64{}
}

// With fsync "always", a write is answered once durable: after a restart
// on the same file, it is there.
func TestAOFAlwaysOverTCP(t *testing.T) {
	forKernelBackends(t, func(t *testing.T, backend ioloop.Backend) {
		path := t.TempDir() + "/appendonly.aof"
		func() {
			ts := startTestServer(t, backend, path, fsyncAlways)
			c, r := dial(t, ts.addr)
			c.Write([]byte("SET a 1\r\nINCR a\r\nSET b x EX 1000\r\nGET a\r\n"))
			if got := readReplies(t, r, 4); got != "+OK\r\n:2\r\n+OK\r\n$1\r\n2\r\n" {
				t.Fatalf("got %q", got)
			}
			// QUIT after a write: its acknowledgement still comes, once
			// durable, then the close.
			q, qr := dial(t, ts.addr)
			q.Write([]byte("SET q 1\r\nQUIT\r\n"))
			if got := readReplies(t, qr, 2); got != "+OK\r\n+OK\r\n" {
				t.Fatalf("SET then QUIT: %q", got)
			}
			if _, err := qr.ReadByte(); err != io.EOF {
				t.Fatalf("after QUIT: %v, want the connection closed", err)
			}
			c.Close()
			ioloop.Post(ts.l, ts.in, (*instance).shutdown)
			if err := <-ts.exited; err != nil {
				t.Fatal(err)
			}
			ts.exited <- nil // for the cleanup
		}()
		ts := startTestServer(t, backend, path, fsyncAlways)
		c, r := dial(t, ts.addr)
		c.Write([]byte("GET a\r\nTTL b\r\n"))
		if got := readReplies(t, r, 2); got != "$1\r\n2\r\n:1000\r\n" && got != "$1\r\n2\r\n:999\r\n" && got != "$1\r\n2\r\n:998\r\n" {
			t.Fatalf("after a restart: %q", got)
		}
	})
}
