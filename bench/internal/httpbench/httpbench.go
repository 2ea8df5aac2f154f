// Package httpbench is the suite's HTTP workload: wrk against HTTP/1.1
// servers that answer the same routes, GET /plaintext ("Hello, World!" as
// text/plain) and GET /json ({"message":"Hello, World!"}), with keep-alive.
//
// The contenders are examples/http of this repository (the ioloop server
// on the connection layer, on io_uring and on epoll), Go's net/http, a
// gnet server written the way gnet's own HTTP example is, and, when the
// repository has examples/nethttp, net/http served through the ioloop
// net.Listener adapter ("netconn"). Every server takes -addr IP:port and
// serves until killed; the ones in this package run as children of the
// suite ("child httpserver -impl I -addr A"), the examples as binaries
// built from the repository.
package httpbench

import (
	"fmt"
	"os"
	"path/filepath"
)

// Contenders of the HTTP workload, in table order, before Optional.
var Contenders = []string{"ioloop-io_uring", "ioloop-epoll", "nethttp", "gnet"}

// Optional is the contender that runs only when its directory exists in
// the repository: net/http served through the ioloop net.Listener
// adapter, examples/nethttp (same -addr flag and /plaintext route).
const Optional = "netconn"

// Routes the workload measures; Quick runs the first only.
var Routes = []string{"/plaintext", "/json"}

// Example returns the directory, under the repository root, of the
// example a contender runs, or "" for a contender served by this package.
func Example(impl string) string {
	switch impl {
	case "ioloop-io_uring", "ioloop-epoll":
		return filepath.Join("examples", "http")
	case Optional:
		return filepath.Join("examples", "nethttp")
	}
	return ""
}

// Available lists the contenders that run against the repository at
// root: Contenders, and Optional when its example exists.
func Available(root string) []string {
	out := append([]string(nil), Contenders...)
	if st, err := os.Stat(filepath.Join(root, Example(Optional))); err == nil && st.IsDir() {
		out = append(out, Optional)
	}
	return out
}

// ExampleArgs are the command-line arguments of an example contender
// listening on addr.
func ExampleArgs(impl, addr string) []string {
	switch impl {
	case "ioloop-io_uring":
		return []string{"-addr", addr, "-backend", "io_uring"}
	case "ioloop-epoll":
		return []string{"-addr", addr, "-backend", "epoll"}
	}
	return []string{"-addr", addr}
}

// Serve runs the server impl of this package on addr until killed.
func Serve(impl, addr string) error {
	switch impl {
	case "nethttp":
		return serveNetHTTP(addr)
	case "gnet":
		return serveGnet(addr)
	}
	return fmt.Errorf("unknown http server %q for a child (want nethttp or gnet; the others are examples)", impl)
}

// The responses' bodies, the same for every contender.
const (
	plaintextBody = "Hello, World!"
	jsonMessage   = "Hello, World!"
)
