//go:build !windows

// Command http is an HTTP/1.1 server on ioloop's connection layer
// (package conn): keep-alive, pipelining (responses in request order, one
// send per read), chunked responses and request bodies, size limits, and a
// Date header formatted once a second. One loop, one goroutine.
//
//	go run ./examples/http -addr 127.0.0.1:8080
//	curl http://127.0.0.1:8080/plaintext
//	wrk -c 100 -d 10s http://127.0.0.1:8080/plaintext
//
// Routes: GET /plaintext (Hello, World! as text/plain), GET /json
// ({"message":"Hello, World!"}), GET /chunked?n=N (a chunked body of N
// chunks), POST /echo (the body back), GET / (this list). It serves until
// SIGINT or SIGTERM, then stops accepting, closes its connections
// gracefully and exits. examples/http/README.md has the details and the
// measurements.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/ioloop/ioloop"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on, IP:port (port 0: any free port; the address is printed)")
	backendName := fs.String("backend", "auto", "loop backend: auto, io_uring, epoll or kqueue (the environment's IOLOOP_BACKEND also works)")
	headerBytes := fs.Int("max-header-bytes", defaultHeaderBytes, "largest request line and header section; beyond it: 431")
	bodyBytes := fs.Int("max-body-bytes", defaultBodyBytes, "largest request body; beyond it: 413")
	poolBuffers := fs.Int("pool", 0, "receive through a buffer pool of this many 4 KiB buffers shared by all connections (0: a buffer per connection)")
	idle := fs.Duration("idle-timeout", 2*time.Minute, "close a connection idle this long (0: never)")
	readTimeout := fs.Duration("read-timeout", 10*time.Second, "close a connection whose request does not arrive whole within this long (0: never)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file, from start to shutdown")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	backend, err := ioloop.ParseBackend(*backendName)
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "http:", err)
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(os.Stderr, "http: unexpected arguments %q\n", fs.Args())
		return 2
	case *headerBytes < 64 || *bodyBytes < 0 || *poolBuffers < 0:
		fmt.Fprintln(os.Stderr, "http: -max-header-bytes must be at least 64, -max-body-bytes and -pool not negative")
		return 2
	}
	cfg := config{
		addr:        *addr,
		backend:     backend,
		lim:         limits{headerBytes: *headerBytes, bodyBytes: *bodyBytes},
		poolBuffers: *poolBuffers,
		idleTimeout: *idle,
		readTimeout: *readTimeout,
	}

	// Register before listening, so that a signal sent as soon as the
	// address is printed is not lost to the default action.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)

	a, err := start(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "http:", err)
		return 1
	}
	fmt.Printf("listening %s\n", a.ln.Addr())
	fmt.Fprintf(os.Stderr, "http: serving on %s (backend %s)\n", a.ln.Addr(), a.loop.Backend())
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "http: -cpuprofile:", err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	go func() {
		sig := <-signals
		fmt.Fprintf(os.Stderr, "http: %v: closing\n", sig)
		a.loop.Stop() // safe from any goroutine
	}()
	if err := a.serve(); err != nil && !errors.Is(err, ioloop.ErrClosed) {
		fmt.Fprintln(os.Stderr, "http:", err)
		return 1
	}
	return 0
}
