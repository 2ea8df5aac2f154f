//go:build !windows

// Command nethttp serves net/http through netconn: the standard library's
// HTTP server, unchanged, on connections whose I/O runs on an ioloop.Loop.
//
//	go run ./examples/nethttp -addr 127.0.0.1:8080
//	curl http://127.0.0.1:8080/plaintext   # Hello, World!
//	curl http://127.0.0.1:8080/json        # {"message":"Hello, World!"}
//
// It serves until killed. -server net serves the same handler through
// net.Listen instead, the baseline bench.sh measures against; -backend
// picks the loop's backend (auto, io_uring, epoll, kqueue) and
// -unlocked-thread runs the loop on an ordinary goroutine (for comparison).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/netconn"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on, IP:port")
	server := flag.String("server", "netconn", "netconn: through an ioloop.Loop; net: through net.Listen (the baseline)")
	backend := flag.String("backend", "auto", "the loop's backend: auto, io_uring, epoll or kqueue")
	unlockedThread := flag.Bool("unlocked-thread", false, "run the loop on an ordinary goroutine, not one locked to its OS thread (netconn.Options.UnlockedThread; for comparison)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until SIGINT or SIGTERM")
	flag.Parse()
	if *cpuProfile != "" {
		stop, err := profile(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		defer stop()
	}

	ln, err := listen(*server, *backend, *unlockedThread, *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "nethttp: serving on http://%s (%s)\n", ln.Addr(), *server)
	served := make(chan error, 1)
	go func() { served <- http.Serve(ln, handler()) }()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-served:
		log.Print(err)
	case <-signals: // killed: stop (and write the profile) on the way out
	}
}

// profile starts a CPU profile into path and returns what stops it.
func profile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// listen opens the listener the -server flag names.
func listen(server, backend string, unlockedThread bool, addr string) (net.Listener, error) {
	switch server {
	case "net":
		return net.Listen("tcp", addr)
	case "netconn":
		b, err := ioloop.ParseBackend(backend)
		if err != nil {
			return nil, err
		}
		nw, err := netconn.New(netconn.Options{Loop: ioloop.Options{Backend: b}, UnlockedThread: unlockedThread})
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "nethttp: loop backend %v\n", nw.Backend())
		return nw.Listen("tcp", addr)
	}
	return nil, fmt.Errorf("unknown -server %q (netconn or net)", server)
}

// handler routes GET /plaintext and GET /json.
func handler() http.Handler {
	hello := []byte("Hello, World!")
	mux := http.NewServeMux()
	type message struct {
		Message string `json:"message"`
	}
	mux.HandleFunc("GET /plaintext", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, r *http.Request) {
		body, err := json.Marshal(message{"Hello, World!"}) // encoded per request, as a real handler would
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	return mux
}
