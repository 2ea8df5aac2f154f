//go:build !windows

package sim_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/sim"
	"golang.org/x/sys/unix"
)

// echoServer accepts connections and echoes every byte back.
type echoServer struct {
	l      *ioloop.Loop
	lfd    int
	accept ioloop.Completion
	conns  int
}

type echoConn struct {
	s    *echoServer
	fd   int
	buf  [512]byte
	recv ioloop.Completion
	send ioloop.Completion
}

func (s *echoServer) start() { ioloop.Accept(s.l, &s.accept, s.lfd, s, (*echoServer).onAccept) }

func (s *echoServer) onAccept(_ *ioloop.Completion, fd int, err error) {
	if err != nil {
		return
	}
	s.conns++
	c := &echoConn{s: s, fd: fd}
	ioloop.Recv(s.l, &c.recv, fd, c.buf[:], c, (*echoConn).onRecv)
	s.start()
}

func (c *echoConn) onRecv(_ *ioloop.Completion, n int, err error) {
	if err != nil {
		var close ioloop.Completion
		ioloop.Close(c.s.l, &close, c.fd, c, func(*echoConn, *ioloop.Completion, error) {})
		return
	}
	ioloop.Send(c.s.l, &c.send, c.fd, c.buf[:n], c, (*echoConn).onSend)
}

func (c *echoConn) onSend(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		return
	}
	ioloop.Recv(c.s.l, &c.recv, c.fd, c.buf[:], c, (*echoConn).onRecv)
}

type client struct {
	l        *ioloop.Loop
	fd       int
	op       ioloop.Completion
	recv     ioloop.Completion
	out, in  []byte
	got      int
	err      error
	finished bool
}

func (c *client) onConnect(_ *ioloop.Completion, err error) {
	if err != nil {
		c.err, c.finished = err, true
		return
	}
	// Receive while sending: the echo fills both directions' buffers.
	ioloop.Send(c.l, &c.op, c.fd, c.out, c, (*client).onSend)
	ioloop.Recv(c.l, &c.recv, c.fd, c.in[c.got:], c, (*client).onRecv)
}

func (c *client) onSend(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		c.err, c.finished = err, true
	}
}

func (c *client) onRecv(_ *ioloop.Completion, n int, err error) {
	if err != nil {
		c.err, c.finished = err, true
		return
	}
	c.got += n
	if c.got == len(c.in) {
		c.finished = true
		return
	}
	ioloop.Recv(c.l, &c.recv, c.fd, c.in[c.got:], c, (*client).onRecv)
}

func runEcho(t *testing.T, opts sim.Options, size int) (string, []byte, []byte) {
	t.Helper()
	w := sim.NewWorld(opts)
	if testing.Verbose() && size <= 64 {
		w.SetTrace(os.Stderr)
	}
	server, clientNode := w.AddNode("server"), w.AddNode("client")
	lfd, bound, err := server.Loop().ListenTCP(netip.AddrPortFrom(server.Addr(), 7000), ioloop.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{l: server.Loop(), lfd: lfd}
	s.start()
	fd, err := clientNode.Loop().TCPSocket(bound)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{l: clientNode.Loop(), fd: fd, out: bytes.Repeat([]byte("0123456789abcdef"), size/16), in: make([]byte, size)}
	ioloop.Connect(c.l, &c.op, fd, bound, c, (*client).onConnect)
	done, err := w.RunUntil(time.Minute, func() bool { return c.finished })
	if err != nil || !done {
		t.Fatalf("echo did not finish: done=%v err=%v", done, err)
	}
	if c.err != nil {
		t.Fatalf("client: %v", c.err)
	}
	return w.TraceHash(), c.out, c.in
}

func TestEchoBetweenNodes(t *testing.T) {
	hash1, out, in := runEcho(t, sim.Options{Seed: 1, Faults: sim.Faults{PartialIO: 0.5}}, 1<<20)
	if !bytes.Equal(out, in) {
		t.Fatal("echoed bytes differ")
	}
	hash2, _, _ := runEcho(t, sim.Options{Seed: 1, Faults: sim.Faults{PartialIO: 0.5}}, 1<<20)
	if hash1 != hash2 {
		t.Fatalf("same seed, different traces: %s vs %s", hash1, hash2)
	}
	hash3, _, _ := runEcho(t, sim.Options{Seed: 2, Faults: sim.Faults{PartialIO: 0.5}}, 1<<20)
	if hash1 == hash3 {
		t.Fatalf("different seeds, same trace %s", hash1)
	}
}

func TestEchoSmall(t *testing.T) { runEcho(t, sim.Options{Seed: 1}, 64) }

func TestVirtualTimeJumps(t *testing.T) {
	w := sim.NewWorld(sim.Options{Seed: 3})
	n := w.AddNode("a")
	l := n.Loop()
	var op ioloop.Completion
	fired := time.Time{}
	type ctx struct{}
	start := time.Now()
	ioloop.Timeout(l, &op, time.Hour, &ctx{}, func(*ctx, *ioloop.Completion, error) { fired = l.Now() })
	if err := l.RunFor(2 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if want := sim.Epoch.Add(time.Hour); !fired.Equal(want) {
		t.Fatalf("timer fired at %v, want %v", fired, want)
	}
	// RunFor ends with a non-blocking pass, which costs a microsecond.
	if got := w.Elapsed(); got < 2*time.Hour || got > 2*time.Hour+time.Millisecond {
		t.Fatalf("elapsed %v, want 2h", got)
	}
	if wall := time.Since(start); wall > time.Second {
		t.Fatalf("two simulated hours took %v of wall time", wall)
	}
}

func TestRunDetectsDeadlock(t *testing.T) {
	w := sim.NewWorld(sim.Options{Seed: 4})
	n := w.AddNode("a")
	l := n.Loop()
	lfd, _, err := l.ListenTCP(netip.MustParseAddrPort("127.0.0.1:1"), ioloop.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var op ioloop.Completion
	type ctx struct{}
	ioloop.Accept(l, &op, lfd, &ctx{}, func(*ctx, *ioloop.Completion, int, error) {})
	if err := l.Run(); !errors.Is(err, sim.ErrDeadlock) {
		t.Fatalf("Run = %v, want ErrDeadlock", err)
	}
}

func TestFileSurvivesOnlyWhatWasSynced(t *testing.T) {
	w := sim.NewWorld(sim.Options{Seed: 5})
	n := w.AddNode("db")
	l := n.Loop()
	type state struct {
		fd   int
		err  error
		done bool
	}
	st := &state{}
	var op ioloop.Completion
	ioloop.OpenAt(l, &op, unix.AT_FDCWD, "/wal", unix.O_CREAT|unix.O_RDWR, 0o644, st, func(st *state, _ *ioloop.Completion, fd int, err error) {
		st.fd, st.err, st.done = fd, err, true
	})
	w.RunUntil(time.Second, func() bool { return st.done })
	if st.err != nil {
		t.Fatal(st.err)
	}
	synced := bytes.Repeat([]byte{'s'}, 8192)
	st.done = false
	ioloop.Write(l, &op, st.fd, synced, 0, st, func(st *state, _ *ioloop.Completion, _ int, err error) {
		ioloop.Fsync(l, &op, st.fd, st, func(st *state, _ *ioloop.Completion, err error) { st.err, st.done = err, true })
	})
	w.RunUntil(time.Second, func() bool { return st.done })
	if st.err != nil {
		t.Fatal(st.err)
	}
	// The file's name is durable once its directory is synced.
	st.done = false
	ioloop.OpenAt(l, &op, unix.AT_FDCWD, "/", unix.O_RDONLY|unix.O_DIRECTORY, 0, st, func(st *state, _ *ioloop.Completion, fd int, err error) {
		if err != nil {
			st.err, st.done = err, true
			return
		}
		ioloop.Fsync(l, &op, fd, st, func(st *state, _ *ioloop.Completion, err error) { st.err, st.done = err, true })
	})
	w.RunUntil(time.Second, func() bool { return st.done })
	if st.err != nil {
		t.Fatal(st.err)
	}
	st.done = false
	ioloop.Write(l, &op, st.fd, bytes.Repeat([]byte{'u'}, 8192), 8192, st, func(st *state, _ *ioloop.Completion, _ int, err error) {
		st.err, st.done = err, true
	})
	w.RunUntil(time.Second, func() bool { return st.done })
	n.Crash()
	l = n.Restart()
	st.done = false
	ioloop.OpenAt(l, &op, unix.AT_FDCWD, "/wal", unix.O_RDONLY, 0, st, func(st *state, _ *ioloop.Completion, fd int, err error) {
		st.fd, st.err, st.done = fd, err, true
	})
	w.RunUntil(time.Second, func() bool { return st.done })
	if st.err != nil {
		t.Fatal(st.err)
	}
	buf := make([]byte, 1<<16)
	got := 0
	st.done = false
	var readMore func(st *state, _ *ioloop.Completion, n int, err error)
	readMore = func(st *state, _ *ioloop.Completion, n int, err error) {
		got += n
		if err != nil {
			st.done = true
			if err != io.EOF {
				st.err = err
			}
			return
		}
		ioloop.Read(l, &op, st.fd, buf[got:], int64(got), st, readMore)
	}
	ioloop.Read(l, &op, st.fd, buf, 0, st, readMore)
	w.RunUntil(time.Second, func() bool { return st.done })
	if st.err != nil {
		t.Fatal(st.err)
	}
	if got < len(synced) || !bytes.Equal(buf[:len(synced)], synced) {
		t.Fatalf("synced data lost: read %d bytes", got)
	}
	t.Logf("after crash the file has %d bytes (8192 synced, 8192 unsynced)", got)
	_ = syscall.EIO
}
