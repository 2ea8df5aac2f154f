package conn_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ioloop/ioloop/conn"
)

// echoOnce dials address and checks that a line comes back.
func echoOnce(t *testing.T, e *env, network, address string, opts conn.Options) {
	t.Helper()
	client := &recorder{}
	client.onOpen = func(c *conn.Conn) { c.WriteString("ping\n") }
	client.onData = func(c *conn.Conn) {
		if line, ok := c.ReadUntil('\n'); ok {
			client.got = append(client.got, line...)
			c.Close()
		}
	}
	if _, err := conn.Dial(e.loop, network, address, opts, client); err != nil {
		t.Fatalf("Dial(%q, %q): %v", network, address, err)
	}
	e.runUntil("echo via "+address, 5*time.Second, func() bool { return client.closed == 1 })
	if string(client.got) != "ping\n" || client.reasons[0] != nil {
		t.Errorf("Dial(%q, %q): got %q, reason %v", network, address, client.got, client.reasons[0])
	}
}

func TestAddressForms(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		server := &lineEcho{}
		// ":0": every address (IPv6 and IPv4 where the system allows).
		ln, err := conn.Listen(e.loop, "tcp", ":0", conn.Options{}, server)
		if err != nil {
			t.Fatal(err)
		}
		port := strconv.Itoa(int(ln.AddrPort().Port()))
		t.Logf("\":0\" bound %s", ln.Addr())
		echoOnce(t, e, "tcp", "127.0.0.1:"+port, conn.Options{})
		echoOnce(t, e, "tcp", ":"+port, conn.Options{})
		echoOnce(t, e, "tcp", "localhost:"+port, conn.Options{})
		echoOnce(t, e, "tcp4", "localhost:"+port, conn.Options{})
		if !e.sim() && ln.AddrPort().Addr().Is6() {
			echoOnce(t, e, "tcp", "[::1]:"+port, conn.Options{})
			echoOnce(t, e, "tcp6", "localhost:"+port, conn.Options{})
		}
		ln.Close()

		// "localhost:0" listens on 127.0.0.1.
		ln, err = conn.Listen(e.loop, "tcp", "localhost:0", conn.Options{}, server)
		if err != nil {
			t.Fatal(err)
		}
		if a := ln.AddrPort().Addr(); a != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("localhost:0 bound %v", a)
		}
		// localhost dials 127.0.0.1 (then ::1): the first answers.
		echoOnce(t, e, "tcp", "localhost:"+strconv.Itoa(int(ln.AddrPort().Port())), conn.Options{})
		ln.Close()

		if e.sim() {
			// Node names through the world's table.
			echoLn, err := conn.Listen(e.loop, "tcp", e.node.Addr().String()+":7000", conn.Options{}, server)
			if err != nil {
				t.Fatal(err)
			}
			echoOnce(t, e, "tcp", "server:7000", conn.Options{Resolver: e.world.LookupHost})
			echoLn.Close()
			client := &recorder{}
			_, err = conn.Dial(e.loop, "tcp", "nosuchnode:7000", conn.Options{Resolver: e.world.LookupHost}, client)
			var dns *net.DNSError
			if !errors.As(err, &dns) || !dns.IsNotFound {
				t.Errorf("unknown node: %v, want a *net.DNSError, not found", err)
			}
			if _, err := conn.Dial(e.loop, "tcp", "server:7000", conn.Options{}, client); err == nil {
				t.Error("a host name without a Resolver dialed on the simulator")
			}
			return
		}

		// IPv6 loopback, if the machine has it.
		if ln6, err := conn.Listen(e.loop, "tcp6", "[::1]:0", conn.Options{}, server); err == nil {
			echoOnce(t, e, "tcp6", ln6.Addr(), conn.Options{})
			ln6.Close()
		} else {
			t.Logf("no IPv6 loopback: %v", err)
		}

		// A host name through a Resolver, which runs on a goroutine.
		ln, err = conn.Listen(e.loop, "tcp", "127.0.0.1:0", conn.Options{}, server)
		if err != nil {
			t.Fatal(err)
		}
		resolver := func(host string) ([]netip.Addr, error) {
			if host != "echo.test" {
				return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
			}
			time.Sleep(5 * time.Millisecond) // a resolver may block: not the loop
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		port = strconv.Itoa(int(ln.AddrPort().Port()))
		echoOnce(t, e, "tcp", "echo.test:"+port, conn.Options{Resolver: resolver})
		client := &recorder{}
		if _, err := conn.Dial(e.loop, "tcp", "nohost.test:"+port, conn.Options{Resolver: resolver}, client); err != nil {
			t.Fatal(err)
		}
		e.runUntil("resolution failed", 5*time.Second, func() bool { return client.closed == 1 })
		var dns *net.DNSError
		if !errors.As(client.reasons[0], &dns) {
			t.Errorf("reason %v, want a *net.DNSError", client.reasons[0])
		}
		t.Logf("unresolvable: %v", client.reasons[0])
		ln.Close()

		// Unix sockets: a path, removed at Close.
		if runtime.GOOS == "windows" {
			if _, err := conn.Listen(e.loop, "unix", `C:\no-such-dir\echo.sock`, conn.Options{}, server); !errors.Is(err, syscall.EAFNOSUPPORT) {
				t.Fatalf("a unix listener on Windows: %v, want EAFNOSUPPORT (the IOCP backend makes no unix sockets)", err)
			}
			return
		}
		path := filepath.Join(t.TempDir(), "echo.sock")
		uln, err := conn.Listen(e.loop, "unix", path, conn.Options{}, server)
		if err != nil {
			t.Fatal(err)
		}
		if uln.Addr() != path {
			t.Errorf("Addr %q, want %q", uln.Addr(), path)
		}
		echoOnce(t, e, "unix", path, conn.Options{})
		if _, err := conn.Listen(e.loop, "unix", path, conn.Options{}, server); !errors.Is(err, os.ErrExist) && err == nil {
			t.Error("a second listener on the same path succeeded")
		}
		uln.Close()
		e.runUntil("unix listener closed", 5*time.Second, func() bool { return uln.FD() < 0 })
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket file left at Close: %v", err)
		}
	})
}

// ReusePort: two listeners, on two loops, share one address.
func TestReusePort(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		if e.sim() {
			t.Skip("the simulator has no SO_REUSEPORT")
		}
		if runtime.GOOS == "windows" {
			if _, err := conn.Listen(e.loop, "tcp", "127.0.0.1:0", conn.Options{ReusePort: true}, &lineEcho{}); !errors.Is(err, syscall.EOPNOTSUPP) {
				t.Fatalf("ReusePort on Windows: %v, want EOPNOTSUPP", err)
			}
			t.Skip("Windows has no SO_REUSEPORT (EOPNOTSUPP, checked)")
		}
		e2 := newEnv(t, e.backend)
		defer e2.close()
		server1, server2 := &lineEcho{}, &lineEcho{}
		ln1, err := conn.Listen(e.loop, "tcp", "127.0.0.1:0", conn.Options{ReusePort: true, Backlog: 64}, server1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Listen(e2.loop, "tcp", ln1.Addr(), conn.Options{}, server2); err == nil {
			t.Fatal("a second listener without ReusePort succeeded")
		}
		ln2, err := conn.Listen(e2.loop, "tcp", ln1.Addr(), conn.Options{ReusePort: true}, server2)
		if err != nil {
			t.Fatal(err)
		}
		if ln2.Addr() != ln1.Addr() {
			t.Errorf("addresses %s and %s", ln1.Addr(), ln2.Addr())
		}
		// A dial reaches one of them; drive both loops.
		client := &recorder{}
		client.onOpen = func(c *conn.Conn) { c.WriteString("x\n") }
		if _, err := conn.Dial(e.loop, "tcp", ln1.Addr(), conn.Options{}, client); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(client.got) < 2 && time.Now().Before(deadline) {
			e.loop.RunFor(time.Millisecond)
			e2.loop.RunFor(time.Millisecond)
		}
		if string(client.got) != "x\n" || server1.opened+server2.opened != 1 {
			t.Errorf("got %q; servers opened %d and %d", client.got, server1.opened, server2.opened)
		}
	})
}
