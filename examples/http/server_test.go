//go:build !windows

package main

import (
	"strings"
	"testing"
	"time"
)

// testDate is the fixed clock of newTestServer.
var testDate = time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)

const testDateHeader = "Date: Thu, 03 Dec 2026 13:00:00 GMT\r\n"

func newTestServer(lim limits) *server {
	s := newServer(lim)
	s.date.now = func() time.Time { return testDate }
	return s
}

// feed hands the server pieces of input as a connection's reads would,
// keeping what it did not consume, and returns everything it answered and
// whether it asked to close.
func feed(s *server, pieces ...[]byte) (string, bool) {
	var sess session
	var buffered, out []byte
	closed := false
	for _, p := range pieces {
		buffered = append(buffered, p...)
		s.w.out = s.w.out[:0]
		n, closeConn := s.process(&sess, buffered)
		buffered = buffered[n:]
		out = append(out, s.w.out...)
		if closeConn {
			closed = true
		}
	}
	return string(out), closed
}

func feedString(s *server, pieces ...string) (string, bool) {
	bs := make([][]byte, len(pieces))
	for i, p := range pieces {
		bs[i] = []byte(p)
	}
	return feed(s, bs...)
}

const (
	getPlaintext  = "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
	plaintextResp = "HTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
		"Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"
)

func TestServerRoutes(t *testing.T) {
	tests := []struct {
		name, in, want string
		close          bool
	}{
		{"plaintext", getPlaintext, plaintextResp, false},
		{"json", "GET /json HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"message\":\"Hello, World!\"}", false},
		{"head", "HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n", false},
		{"chunked", "GET /chunked?n=2 HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"d\r\nchunk 1 of 2\n\r\nd\r\nchunk 2 of 2\n\r\n0\r\n\r\n", false},
		{"chunked to HTTP/1.0", "GET /chunked?n=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			"HTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
				"chunk 1 of 2\nchunk 2 of 2\n", true},
		{"chunked bad n", "GET /chunked?n=0 HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 400 Bad Request\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 33\r\n\r\nn must be an integer in 1..10000\n", false},
		{"echo", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/x\r\nContent-Length: 5\r\n\r\nhello",
			"HTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/x\r\nContent-Length: 5\r\n\r\nhello", false},
		{"echo chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: application/octet-stream\r\nContent-Length: 5\r\n\r\nabcde", false},
		{"echo no body", "POST /echo HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: application/octet-stream\r\nContent-Length: 0\r\n\r\n", false},
		{"404", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 404 Not Found\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\n404 Not Found\n", false},
		{"405", "POST /plaintext HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
			"HTTP/1.1 405 Method Not Allowed\r\nServer: ioloop\r\n" + testDateHeader +
				"Allow: GET, HEAD, OPTIONS\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 23\r\n\r\n405 Method Not Allowed\n", false},
		{"OPTIONS", "OPTIONS /echo HTTP/1.1\r\nHost: x\r\n\r\n",
			"HTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
				"Allow: POST, PUT, OPTIONS\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\n\r\n", false},
		{"connection close", "GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + getPlaintext,
			"HTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!", true},
		{"HTTP/1.0", "GET /plaintext HTTP/1.0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!", true},
		{"HTTP/1.0 keep-alive", "GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			"HTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: keep-alive\r\n\r\nHello, World!", false},
		{"malformed", "GET / HTTP/1.1\r\nHost x\r\n\r\n" + getPlaintext,
			"HTTP/1.1 400 Bad Request\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\nConnection: close\r\n\r\n400 Bad Request\n", true},
		{"413", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
			"HTTP/1.1 413 Content Too Large\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 22\r\nConnection: close\r\n\r\n413 Content Too Large\n", true},
		{"431", "GET / HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("c", 1100),
			"HTTP/1.1 431 Request Header Fields Too Large\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 36\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large\n", true},
		{"501", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
			"HTTP/1.1 501 Not Implemented\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nConnection: close\r\n\r\n501 Not Implemented\n", true},
		{"505", "GET / HTTP/2.0\r\n\r\n",
			"HTTP/1.1 505 HTTP Version Not Supported\r\nServer: ioloop\r\n" + testDateHeader +
				"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 31\r\nConnection: close\r\n\r\n505 HTTP Version Not Supported\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, closed := feedString(newTestServer(testLimits), tt.in)
			if got != tt.want || closed != tt.close {
				t.Fatalf("got (close %v)\n%q\nwant (close %v)\n%q", closed, got, tt.close, tt.want)
			}
		})
	}
}

// TestServerPipelining: requests that arrive together are answered
// together, in order, in one batch of output; a request cut anywhere is
// answered once it is complete.
func TestServerPipelining(t *testing.T) {
	in := getPlaintext + "GET /json HTTP/1.1\r\nHost: x\r\n\r\n" + getPlaintext
	s := newTestServer(testLimits)
	var sess session
	s.w.out = s.w.out[:0]
	n, closed := s.process(&sess, []byte(in))
	if n != len(in) || closed {
		t.Fatalf("consumed %d of %d, close %v", n, len(in), closed)
	}
	out := string(s.w.out)
	if strings.Count(out, "HTTP/1.1 200 OK") != 3 || !strings.HasPrefix(out, plaintextResp) || !strings.HasSuffix(out, plaintextResp) ||
		!strings.Contains(out, `{"message":"Hello, World!"}`) {
		t.Fatalf("responses out of order or missing:\n%q", out)
	}
	whole, _ := feedString(newTestServer(testLimits), in)
	for cut := range len(in) {
		got, _ := feedString(newTestServer(testLimits), in[:cut], in[cut:])
		if got != whole {
			t.Fatalf("cut at %d: %q", cut, got)
		}
	}
	// Byte by byte.
	pieces := strings.Split(in, "")
	got, _ := feedString(newTestServer(testLimits), pieces...)
	if got != whole {
		t.Fatalf("byte by byte: %q", got)
	}
}

// TestServerExpectContinue: a request that waits for "100 Continue" gets
// it once, when its header section has arrived without the body; one
// whose body came along does not.
func TestServerExpectContinue(t *testing.T) {
	head := "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
	got, _ := feedString(newTestServer(testLimits), head, "ab", "cd")
	want := "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nServer: ioloop\r\n" + testDateHeader +
		"Content-Type: application/octet-stream\r\nContent-Length: 4\r\n\r\nabcd"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	got, _ = feedString(newTestServer(testLimits), head+"abcd")
	if strings.Contains(got, "100 Continue") {
		t.Fatalf("100 Continue with the body already there: %q", got)
	}
	// Too large: the final status instead, and no 100.
	got, closed := feedString(newTestServer(testLimits), "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 99999\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 413 ") || !closed {
		t.Fatalf("got (close %v) %q", closed, got)
	}
}

// TestServerClosingDiscards: after a response that closes the connection,
// nothing else that arrives is answered.
func TestServerClosingDiscards(t *testing.T) {
	got, closed := feedString(newTestServer(testLimits), "GET /plaintext HTTP/1.0\r\n\r\n", getPlaintext)
	if strings.Count(got, "HTTP/1.1 200") != 1 || !closed {
		t.Fatalf("got (close %v) %q", closed, got)
	}
}

// TestServerChunkedOverhead: a chunked body whose framing takes far more
// than its data is refused once the connection has buffered more than
// maxInputBytes, before the connection layer's own input cap.
func TestServerChunkedOverhead(t *testing.T) {
	lim := limits{headerBytes: 256, bodyBytes: 64}
	in := "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("1;"+strings.Repeat("e", 200)+"\r\na\r\n", 5)
	got, closed := feedString(newTestServer(lim), in)
	if !strings.HasPrefix(got, "HTTP/1.1 413 ") || !closed {
		t.Fatalf("got (close %v) %q", closed, got)
	}
}

func TestDateCache(t *testing.T) {
	now := testDate
	d := newDateCache()
	d.now = func() time.Time { return now }
	d.refresh()
	if got := string(d.bytes()); got != "Thu, 03 Dec 2026 13:00:00 GMT" {
		t.Fatalf("Date %q", got)
	}
	now = now.Add(999 * time.Millisecond)
	d.refresh()
	if got := string(d.bytes()); got != "Thu, 03 Dec 2026 13:00:00 GMT" {
		t.Fatalf("Date within the second %q", got)
	}
	now = now.Add(time.Millisecond).In(time.FixedZone("X", 3600))
	d.refresh()
	if got := string(d.bytes()); got != "Thu, 03 Dec 2026 13:00:01 GMT" {
		t.Fatalf("Date in the next second %q", got)
	}
}

func TestAppendJSONString(t *testing.T) {
	got := string(appendJSONString(nil, "a\"b\\c\n\x01<é>"))
	if want := `"a\"b\\c\n\u0001<é>"`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestProcessAllocs: answering pipelined /plaintext requests allocates
// nothing once the output buffer has grown.
func TestProcessAllocs(t *testing.T) {
	s := newServer(limits{headerBytes: defaultHeaderBytes, bodyBytes: defaultBodyBytes})
	in := []byte(strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\n\r\n", 16))
	var sess session
	allocs := testing.AllocsPerRun(1000, func() {
		s.w.out = s.w.out[:0]
		if n, _ := s.process(&sess, in); n != len(in) {
			t.Fatalf("consumed %d of %d", n, len(in))
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch of 16 requests", allocs)
	}
}

// TestServerStream: a streamed response stops process at its request;
// nextStreamChunk writes the chunks and the end, and then the requests
// behind it are answered.
func TestServerStream(t *testing.T) {
	s := newTestServer(testLimits)
	var sess session
	first := "GET /chunked?n=2&delay_ms=1 HTTP/1.1\r\nHost: x\r\n\r\n"
	in := []byte(first + getPlaintext)
	s.w.out = s.w.out[:0]
	n, closed := s.process(&sess, in)
	if n != len(first) || closed || !sess.streaming() || strings.Contains(string(s.w.out), "chunk 1") {
		t.Fatalf("consumed %d of %d, close %v, streaming %v: %q", n, len(in), closed, sess.streaming(), s.w.out)
	}
	if n2, _ := s.process(&sess, in[n:]); n2 != 0 {
		t.Fatalf("answered %d bytes while streaming", n2)
	}
	var out, scratch []byte
	out, scratch, done, _ := sess.nextStreamChunk(out, scratch)
	if done || string(out) != "d\r\nchunk 1 of 2\n\r\n" {
		t.Fatalf("first chunk %q done %v", out, done)
	}
	out, _, done, keepAlive := sess.nextStreamChunk(out[:0], scratch)
	if !done || !keepAlive || string(out) != "d\r\nchunk 2 of 2\n\r\n0\r\n\r\n" || sess.streaming() {
		t.Fatalf("last chunk %q done %v keepAlive %v", out, done, keepAlive)
	}
	s.w.out = s.w.out[:0]
	if n2, _ := s.process(&sess, in[n:]); n2 != len(getPlaintext) || string(s.w.out) != plaintextResp {
		t.Fatalf("after the stream: %d %q", n2, s.w.out)
	}
}

// BenchmarkProcess measures the protocol's own cost per request (parse,
// route, write the response) on 16 pipelined GET /plaintext as wrk sends
// them, without the connection layer or the kernel.
func BenchmarkProcess(b *testing.B) {
	s := newServer(limits{headerBytes: defaultHeaderBytes, bodyBytes: defaultBodyBytes})
	const pipelined = 16
	in := []byte(strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", pipelined))
	var sess session
	b.ReportAllocs()
	b.SetBytes(int64(len(in) / pipelined))
	for i := 0; i < b.N; i += pipelined {
		s.w.out = s.w.out[:0]
		s.process(&sess, in)
	}
}
