//go:build !windows

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ioloop/ioloop"
)

// testBackends are the kernel backends this machine runs: io_uring when
// the kernel allows it, and epoll.
func testBackends(t *testing.T) []ioloop.Backend {
	t.Helper()
	backends := []ioloop.Backend{ioloop.BackendEpoll}
	if l, err := ioloop.New(ioloop.Options{Backend: ioloop.BackendIOUring}); err == nil {
		l.Close()
		backends = append([]ioloop.Backend{ioloop.BackendIOUring}, backends...)
	} else {
		t.Logf("io_uring not available, epoll only: %v", err)
	}
	return backends
}

// forEachBackend runs fn against a server on each backend, receiving
// into a buffer per connection and (the "-pool" subtests) through a
// shared pool of 8 buffers, on a loop of its own goroutine, stopped
// (gracefully, as on SIGTERM) when the test ends.
func forEachBackend(t *testing.T, lim limits, fn func(t *testing.T, addr string)) {
	for _, b := range testBackends(t) {
		for _, pool := range []int{0, 8} {
			name := b.String()
			if pool > 0 {
				name += "-pool"
			}
			t.Run(name, func(t *testing.T) {
				runServer(t, config{addr: "127.0.0.1:0", backend: b, lim: lim, poolBuffers: pool}, fn)
			})
		}
	}
}

// runServer runs fn against a server of cfg, as forEachBackend does.
func runServer(t *testing.T, cfg config, fn func(t *testing.T, addr string)) {
	cfg.idleTimeout, cfg.readTimeout = time.Minute, 10*time.Second
	a, err := start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.serve() }()
	t.Cleanup(func() {
		a.loop.Stop()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("the server did not stop within 10 s")
		}
	})
	fn(t, a.ln.Addr())
}

var clientLimits = limits{headerBytes: defaultHeaderBytes, bodyBytes: 1 << 20}

// newClient is a Go http.Client with keep-alive, as programs use it.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 4, ExpectContinueTimeout: 5 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestNetHTTPClient(t *testing.T) {
	forEachBackend(t, clientLimits, func(t *testing.T, addr string) {
		client := newClient(t)
		base := "http://" + addr

		// Keep-alive: every request after the first reuses the connection.
		reused := 0
		for i := range 50 {
			trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
				if info.Reused {
					reused++
				}
			}}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", base+"/plaintext", nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || string(body) != "Hello, World!" ||
				resp.Header.Get("Content-Type") != "text/plain" || resp.ContentLength != 13 {
				t.Fatalf("request %d: %v %d %q %v", i, err, resp.StatusCode, body, resp.Header)
			}
			if date, err := http.ParseTime(resp.Header.Get("Date")); err != nil || time.Since(date).Abs() > 5*time.Second {
				t.Fatalf("Date %q: %v", resp.Header.Get("Date"), err)
			}
		}
		if reused != 49 {
			t.Fatalf("%d of 49 requests reused the connection", reused)
		}

		// JSON.
		resp, err := client.Get(base + "/json")
		if err != nil {
			t.Fatal(err)
		}
		var msg struct{ Message string }
		err = json.NewDecoder(resp.Body).Decode(&msg)
		resp.Body.Close()
		if err != nil || msg.Message != "Hello, World!" || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("json: %v %+v %v", err, msg, resp.Header)
		}

		// A chunked response.
		resp, err = client.Get(base + "/chunked?n=500")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" ||
			strings.Count(string(body), "\n") != 500 || !strings.HasSuffix(string(body), "chunk 500 of 500\n") {
			t.Fatalf("chunked: %v %v %d lines", err, resp.TransferEncoding, strings.Count(string(body), "\n"))
		}

		// Request bodies: Content-Length, chunked (a reader of unknown
		// length), and with Expect: 100-continue, up to the limit.
		big := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16)
		for _, tc := range []struct {
			name    string
			body    []byte
			chunked bool
			expect  bool
		}{
			{"small", []byte("hello"), false, false},
			{"1 MiB", big, false, false},
			{"chunked", big[:300000], true, false},
			{"expect", big[:100000], false, true},
		} {
			var rd io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				rd = io.MultiReader(rd) // hides the length: the client sends chunks
			}
			req, _ := http.NewRequest("POST", base+"/echo", rd)
			req.Header.Set("Content-Type", "application/x-test")
			if tc.expect {
				req.Header.Set("Expect", "100-continue")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, tc.body) || resp.Header.Get("Content-Type") != "application/x-test" {
				t.Fatalf("%s: %v status %d, %d bytes back of %d", tc.name, err, resp.StatusCode, len(got), len(tc.body))
			}
		}

		// 404 and 405.
		for _, tc := range []struct {
			method, path string
			status       int
		}{{"GET", "/nowhere", 404}, {"DELETE", "/plaintext", 405}, {"GET", "/echo", 405}} {
			req, _ := http.NewRequest(tc.method, base+tc.path, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || (tc.status == 405 && resp.Header.Get("Allow") == "") {
				t.Fatalf("%s %s: %d %v", tc.method, tc.path, resp.StatusCode, resp.Header)
			}
		}

		// A body over the limit: 413 with the connection closed.
		req, _ := http.NewRequest("POST", base+"/echo", bytes.NewReader(append(big, 'x')))
		req.Header.Set("Expect", "100-continue")
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 || !resp.Close {
			t.Fatalf("over the limit: %d close %v", resp.StatusCode, resp.Close)
		}

		// Headers over the limit: 431.
		req, _ = http.NewRequest("GET", base+"/plaintext", nil)
		req.Header.Set("X-Big", strings.Repeat("b", defaultHeaderBytes))
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 431 || !resp.Close {
			t.Fatalf("headers over the limit: %d close %v", resp.StatusCode, resp.Close)
		}
	})
}

// rawConn is a TCP client that writes bytes as given and reads responses
// with net/http's response parser.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (rc *rawConn) write(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.nc, s); err != nil {
		rc.t.Fatal(err)
	}
}

// read reads one response to a request of method, and its body.
func (rc *rawConn) read(method string) (*http.Response, string) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatal(err)
	}
	return resp, string(body)
}

// expectEOF checks that the server closed the connection.
func (rc *rawConn) expectEOF() {
	rc.t.Helper()
	if n, err := rc.br.Read(make([]byte, 1)); err != io.EOF {
		rc.t.Fatalf("read %d bytes, %v; want the end of the stream", n, err)
	}
}

func TestPipelining(t *testing.T) {
	forEachBackend(t, clientLimits, func(t *testing.T, addr string) {
		rc := dialRaw(t, addr)
		// 200 requests of five kinds in one write; the answers must come
		// in the same order.
		var sb strings.Builder
		for i := range 200 {
			switch i % 5 {
			case 0:
				sb.WriteString("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
			case 1:
				sb.WriteString("GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
			case 2:
				fmt.Fprintf(&sb, "GET /chunked?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", i%7+1)
			case 3:
				body := fmt.Sprintf("body %d", i)
				fmt.Fprintf(&sb, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			case 4:
				fmt.Fprintf(&sb, "HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
			}
		}
		rc.write(sb.String())
		for i := range 200 {
			method := "GET"
			if i%5 == 4 {
				method = "HEAD"
			}
			resp, body := rc.read(method)
			var want string
			switch i % 5 {
			case 0:
				want = "Hello, World!"
			case 1:
				want = `{"message":"Hello, World!"}`
			case 2:
				want = fmt.Sprintf("chunk %d of %d\n", i%7+1, i%7+1)
			case 3:
				want = fmt.Sprintf("body %d", i)
			}
			if resp.StatusCode != 200 || !strings.HasSuffix(body, want) || (want == "" && body != "") {
				t.Fatalf("response %d: %d %q, want ...%q", i, resp.StatusCode, body, want)
			}
		}
		// A request split across writes, byte by byte.
		req := "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
		for i := range len(req) {
			rc.write(req[i : i+1])
			time.Sleep(time.Millisecond)
		}
		if _, body := rc.read("GET"); body != "Hello, World!" {
			t.Fatalf("split request: %q", body)
		}
	})
}

func TestKeepAliveRules(t *testing.T) {
	forEachBackend(t, clientLimits, func(t *testing.T, addr string) {
		// HTTP/1.0 without keep-alive: one response, then the server closes.
		rc := dialRaw(t, addr)
		rc.write("GET /plaintext HTTP/1.0\r\n\r\n")
		resp, body := rc.read("GET")
		if body != "Hello, World!" || !resp.Close {
			t.Fatalf("HTTP/1.0: %q close %v", body, resp.Close)
		}
		rc.expectEOF()

		// HTTP/1.0 with keep-alive: the connection stays.
		rc = dialRaw(t, addr)
		for range 3 {
			rc.write("GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			resp, body = rc.read("GET")
			if body != "Hello, World!" || resp.Close || resp.Header.Get("Connection") != "keep-alive" {
				t.Fatalf("HTTP/1.0 keep-alive: %q close %v %v", body, resp.Close, resp.Header)
			}
		}

		// HTTP/1.1 Connection: close, with a request pipelined behind it
		// that is not answered.
		rc = dialRaw(t, addr)
		rc.write("GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ = rc.read("GET")
		if !resp.Close {
			t.Fatalf("Connection: close not echoed: %v", resp.Header)
		}
		rc.expectEOF()

		// Malformed: 400, then closed.
		rc = dialRaw(t, addr)
		rc.write("GET /plaintext HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
		if resp, _ = rc.read("GET"); resp.StatusCode != 400 || !resp.Close {
			t.Fatalf("malformed: %d close %v", resp.StatusCode, resp.Close)
		}
		rc.expectEOF()

		// A body announced beyond the limit, never sent: 413 at once.
		rc = dialRaw(t, addr)
		rc.write("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
		if resp, _ = rc.read("POST"); resp.StatusCode != 413 {
			t.Fatalf("413: %d", resp.StatusCode)
		}
		rc.expectEOF()

		// A chunked body beyond the limit: 413 once the chunks pass it.
		rc = dialRaw(t, addr)
		rc.write("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
		chunk := fmt.Sprintf("%x\r\n%s\r\n", 1<<16, strings.Repeat("z", 1<<16))
		var err error
		for i := 0; i < 20 && err == nil; i++ {
			_, err = io.WriteString(rc.nc, chunk) // fails once the server has closed
		}
		if resp, _ = rc.read("POST"); resp.StatusCode != 413 {
			t.Fatalf("chunked 413: %d", resp.StatusCode)
		}

		// A header section that never ends: 431 at the limit.
		rc = dialRaw(t, addr)
		rc.write("GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Long: " + strings.Repeat("a", defaultHeaderBytes))
		if resp, _ = rc.read("GET"); resp.StatusCode != 431 {
			t.Fatalf("431: %d", resp.StatusCode)
		}
		rc.expectEOF()

		// An unknown transfer coding: 501.
		rc = dialRaw(t, addr)
		rc.write("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
		if resp, _ = rc.read("POST"); resp.StatusCode != 501 {
			t.Fatalf("501: %d", resp.StatusCode)
		}
	})
}

// TestShutdownClosesConnections: stopping the server (what SIGTERM does)
// closes idle keep-alive connections gracefully, with an end of stream.
func TestShutdownClosesConnections(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.String(), func(t *testing.T) {
			a, err := start(config{addr: "127.0.0.1:0", backend: b, lim: clientLimits})
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- a.serve() }()
			rc := dialRaw(t, a.ln.Addr())
			rc.write(getPlaintext)
			rc.read("GET")
			a.loop.Stop()
			rc.expectEOF()
			rc.nc.Close() // the server's drain ends with our end of stream
			select {
			case err := <-served:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(shutdownTimeout / 2):
				t.Fatal("serve did not return once the last connection closed")
			}
			if _, err := net.Dial("tcp", a.ln.Addr()); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("still accepting after shutdown: %v", err)
			}
		})
	}
}

// TestStreamedChunked: GET /chunked?delay_ms= streams its chunks from the
// loop's timer, and a request pipelined behind it is answered after it,
// in order; an HTTP/1.0 client gets the body unchunked, ended by close.
func TestStreamedChunked(t *testing.T) {
	forEachBackend(t, clientLimits, func(t *testing.T, addr string) {
		rc := dialRaw(t, addr)
		began := time.Now()
		rc.write("GET /chunked?n=4&delay_ms=25 HTTP/1.1\r\nHost: x\r\n\r\n" + getPlaintext)
		resp, body := rc.read("GET")
		elapsed := time.Since(began)
		if resp.StatusCode != 200 || len(resp.TransferEncoding) != 1 || body != "chunk 1 of 4\nchunk 2 of 4\nchunk 3 of 4\nchunk 4 of 4\n" {
			t.Fatalf("streamed: %d %v %q", resp.StatusCode, resp.TransferEncoding, body)
		}
		if elapsed < 100*time.Millisecond {
			t.Fatalf("4 chunks 25 ms apart took %v", elapsed)
		}
		if _, body = rc.read("GET"); body != "Hello, World!" {
			t.Fatalf("the request behind the stream: %q", body)
		}
		// The same through Go's client.
		resp2, err := newClient(t).Get("http://" + addr + "/chunked?n=3&delay_ms=10")
		if err != nil {
			t.Fatal(err)
		}
		all, err := io.ReadAll(resp2.Body)
		resp2.Body.Close()
		if err != nil || string(all) != "chunk 1 of 3\nchunk 2 of 3\nchunk 3 of 3\n" {
			t.Fatalf("client: %v %q", err, all)
		}
		// HTTP/1.0.
		rc = dialRaw(t, addr)
		rc.write("GET /chunked?n=2&delay_ms=5 HTTP/1.0\r\n\r\n")
		resp, body = rc.read("GET")
		if body != "chunk 1 of 2\nchunk 2 of 2\n" || !resp.Close || len(resp.TransferEncoding) != 0 {
			t.Fatalf("HTTP/1.0 stream: %q close %v %v", body, resp.Close, resp.TransferEncoding)
		}
		// A client that leaves in the middle of a stream.
		rc = dialRaw(t, addr)
		rc.write("GET /chunked?n=100&delay_ms=5 HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(20 * time.Millisecond)
		rc.nc.Close()
		time.Sleep(20 * time.Millisecond)
	})
}
