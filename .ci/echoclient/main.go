// Command echoclient is the Go client of CI's smoke test of `ioloop echo`
// under wine (.ci/wine.sh): it opens -conns connections to -addr (TCP, or
// UDP with -udp, which Go's net package cannot do under wine 8.0), sends -n messages of -size bytes on each, one at a time,
// checks that every echo comes back whole and unchanged, and exits
// nonzero, saying why, on the first mismatch, error or a reply that takes
// longer than -timeout.
//
// It lives under .ci, which `go test ./...` and `go vet ./...` skip, and
// imports only the standard library.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "server address")
	udp := flag.Bool("udp", false, "send datagrams instead of a TCP stream")
	conns := flag.Int("conns", 8, "connections (UDP: sockets), each on its own goroutine")
	n := flag.Int("n", 200, "messages per connection")
	size := flag.Int("size", 64, "bytes per message")
	timeout := flag.Duration("timeout", 10*time.Second, "longest wait for one echo")
	flag.Parse()
	network := "tcp"
	if *udp {
		network = "udp"
	}
	start := time.Now()
	errs := make(chan error, *conns)
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- exchange(network, *addr, i, *n, *size, *timeout)
		}(i)
	}
	wg.Wait()
	close(errs)
	failed := false
	for err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, "echoclient:", err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
	elapsed := time.Since(start)
	total := *conns * *n
	fmt.Printf("echoclient: %s %s: %d connections x %d messages of %d bytes echoed intact in %v (%.1f µs per round trip per connection)\n",
		network, *addr, *conns, *n, *size, elapsed.Round(time.Millisecond), float64(elapsed.Microseconds())*float64(*conns)/float64(total))
}

// exchange runs one connection's messages; message j of connection i is
// filled with a pattern of (i, j), so that a reply meant for another
// connection or an earlier message is caught.
func exchange(network, addr string, i, n, size int, timeout time.Duration) error {
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	msg := make([]byte, size)
	got := make([]byte, size)
	for j := 0; j < n; j++ {
		for k := range msg {
			msg[k] = byte(i*31 + j*7 + k)
		}
		if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
			return err
		}
		if _, err := c.Write(msg); err != nil {
			return fmt.Errorf("connection %d, message %d: write: %w", i, j, err)
		}
		if network == "udp" {
			m, err := c.Read(got)
			if err != nil {
				return fmt.Errorf("connection %d, message %d: read: %w", i, j, err)
			}
			got = got[:m]
		} else if _, err := io.ReadFull(c, got); err != nil {
			return fmt.Errorf("connection %d, message %d: read: %w", i, j, err)
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("connection %d, message %d: echo differs from what was sent (%d bytes back)", i, j, len(got))
		}
		got = got[:size]
	}
	return nil
}
