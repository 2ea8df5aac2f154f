package netconn

import (
	"net"
	"os"
	"runtime"
	"testing"

	"github.com/ioloop/ioloop"
)

// testBackends are the kernel backends every test runs on.
func testBackends() []ioloop.Backend {
	switch runtime.GOOS {
	case "linux":
		return []ioloop.Backend{ioloop.BackendIOUring, ioloop.BackendEpoll}
	case "windows":
		return []ioloop.Backend{ioloop.BackendIOCP}
	}
	return []ioloop.Backend{ioloop.BackendKqueue}
}

// forEachBackend runs fn as a subtest per backend with a Network on it,
// closed when the subtest ends.
func forEachBackend(t *testing.T, fn func(t *testing.T, nw *Network)) {
	t.Helper()
	for _, b := range testBackends() {
		t.Run(b.String(), func(t *testing.T) {
			fn(t, newTestNetwork(t, Options{Loop: ioloop.Options{Backend: b}}))
		})
	}
}

// newTestNetwork starts a Network with opts, closed at the test's end. A
// backend the machine refuses (io_uring disabled) skips the test, except
// under CI=true, where it fails.
func newTestNetwork(t testing.TB, opts Options) *Network {
	t.Helper()
	nw, err := New(opts)
	if err != nil {
		if os.Getenv("CI") != "true" {
			t.Skipf("backend %v unavailable: %v", opts.Loop.Backend, err)
		}
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() {
		if err := nw.Close(); err != nil {
			t.Errorf("Network.Close: %v", err)
		}
	})
	return nw
}

// pipe returns a connected pair over loopback: c1 dialed through nw, c2
// accepted by a listener of nw.
func pipe(t testing.TB, nw *Network) (c1, c2 net.Conn, stop func(), err error) {
	ln, err := nw.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	accepted := make(chan net.Conn, 1)
	acceptErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acceptErr <- err
			return
		}
		accepted <- c
	}()
	c1, err = nw.Dial("tcp", ln.Addr().String())
	if err != nil {
		ln.Close()
		return nil, nil, nil, err
	}
	select {
	case c2 = <-accepted:
	case err = <-acceptErr:
		c1.Close()
		ln.Close()
		return nil, nil, nil, err
	}
	stop = func() {
		c1.Close()
		c2.Close()
		ln.Close()
	}
	return c1, c2, stop, nil
}
