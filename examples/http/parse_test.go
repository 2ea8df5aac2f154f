//go:build !windows

package main

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

var testLimits = limits{headerBytes: 1024, bodyBytes: 4096}

func TestParseHead(t *testing.T) {
	tests := []struct {
		name, in  string
		status    int
		method    string
		path      string
		query     string
		minor     int
		keepAlive bool
		length    int64
		chunked   bool
	}{
		{name: "get", in: "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", method: "GET", path: "/plaintext", minor: 1, keepAlive: true, length: -1},
		{name: "query", in: "GET /chunked?n=3&x HTTP/1.1\r\nHost: x\r\n\r\n", method: "GET", path: "/chunked", query: "n=3&x", minor: 1, keepAlive: true, length: -1},
		{name: "bare LF", in: "GET / HTTP/1.1\nHost: x\n\n", method: "GET", path: "/", minor: 1, keepAlive: true, length: -1},
		{name: "leading CRLF", in: "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", method: "GET", path: "/", minor: 1, keepAlive: true, length: -1},
		{name: "1.1 close", in: "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n", method: "GET", path: "/", minor: 1, length: -1},
		{name: "1.0", in: "GET / HTTP/1.0\r\n\r\n", method: "GET", path: "/", minor: 0, length: -1},
		{name: "1.0 keep-alive", in: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", method: "GET", path: "/", minor: 0, keepAlive: true, length: -1},
		{name: "1.9 as 1.1", in: "GET / HTTP/1.9\r\nHost: x\r\n\r\n", method: "GET", path: "/", minor: 1, keepAlive: true, length: -1},
		{name: "absolute form", in: "GET http://example.com/json?a HTTP/1.1\r\nHost: example.com\r\n\r\n", method: "GET", path: "/json", query: "a", minor: 1, keepAlive: true, length: -1},
		{name: "absolute form no path", in: "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", method: "GET", path: "/", minor: 1, keepAlive: true, length: -1},
		{name: "asterisk", in: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", method: "OPTIONS", path: "*", minor: 1, keepAlive: true, length: -1},
		{name: "content-length", in: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length:  12 \r\n\r\n", method: "POST", path: "/echo", minor: 1, keepAlive: true, length: 12},
		{name: "same content-length twice", in: "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n", method: "POST", path: "/echo", minor: 1, keepAlive: true, length: 3},
		{name: "chunked", in: "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n", method: "POST", path: "/echo", minor: 1, keepAlive: true, length: -1, chunked: true},

		{name: "incomplete line", in: "GET / HTTP/1.1", status: needMore},
		{name: "incomplete head", in: "GET / HTTP/1.1\r\nHost: x\r\n", status: needMore},
		{name: "incomplete CR", in: "GET / HTTP/1.1\r\nHost: x\r\n\r", status: needMore},
		{name: "empty", in: "", status: needMore},

		{name: "no host", in: "GET / HTTP/1.1\r\n\r\n", status: 400},
		{name: "two hosts", in: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400},
		{name: "space before colon", in: "GET / HTTP/1.1\r\nHost : x\r\n\r\n", status: 400},
		{name: "folding", in: "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", status: 400},
		{name: "bare CR", in: "GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", status: 400},
		{name: "no version", in: "GET /\r\nHost: x\r\n\r\n", status: 400},
		{name: "bad version", in: "GET / HTTP/1.x\r\nHost: x\r\n\r\n", status: 400},
		{name: "HTTP/2.0", in: "GET / HTTP/2.0\r\nHost: x\r\n\r\n", status: 505},
		{name: "bad method", in: "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", status: 400},
		{name: "two spaces", in: "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", status: 400},
		{name: "relative target", in: "GET plaintext HTTP/1.1\r\nHost: x\r\n\r\n", status: 400},
		{name: "asterisk not OPTIONS", in: "GET * HTTP/1.1\r\nHost: x\r\n\r\n", status: 400},
		{name: "control in value", in: "GET / HTTP/1.1\r\nHost: x\x01\r\n\r\n", status: 400},
		{name: "content-length sign", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", status: 400},
		{name: "content-length list", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n", status: 400},
		{name: "content-length differs", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", status: 400},
		{name: "content-length empty", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", status: 400},
		{name: "content-length and chunked", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "chunked not last", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", status: 400},
		{name: "chunked twice", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "chunked in 1.0", in: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "gzip then chunked", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501},
		{name: "expectation", in: "POST / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", status: 417},

		{name: "body too large", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4097\r\n\r\n", status: 413},
		{name: "body enormous", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999999\r\n\r\n", status: 413},
		{name: "head too large", in: "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 1024) + "\r\n\r\n", status: 431},
		{name: "head too large incomplete", in: "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 1024), status: 431},
		{name: "too many fields", in: "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("A: b\r\n", maxHeaders) + "\r\n", status: 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r request
			st := parseHead([]byte(tt.in), &r, &testLimits)
			if st != tt.status {
				t.Fatalf("status %d, want %d", st, tt.status)
			}
			if st != parsed {
				return
			}
			if string(r.method) != tt.method || string(r.path) != tt.path || string(r.query) != tt.query ||
				r.minor != tt.minor || r.keepAlive != tt.keepAlive || r.contentLength != tt.length || r.chunked != tt.chunked {
				t.Fatalf("got method %q path %q query %q minor %d keepAlive %v length %d chunked %v",
					r.method, r.path, r.query, r.minor, r.keepAlive, r.contentLength, r.chunked)
			}
			if r.headLen != len(tt.in) {
				t.Fatalf("headLen %d, want %d", r.headLen, len(tt.in))
			}
		})
	}
}

func TestParseHeaderLookup(t *testing.T) {
	var r request
	in := "POST /echo HTTP/1.1\r\nHost: h\r\ncontent-type:\ttext/x \r\nX-Empty:\r\n\r\n"
	if st := parseHead([]byte(in), &r, &testLimits); st != parsed {
		t.Fatalf("status %d", st)
	}
	if got := string(r.Header("Content-Type")); got != "text/x" {
		t.Fatalf("Content-Type %q", got)
	}
	if got := r.Header("X-Empty"); got == nil || len(got) != 0 {
		t.Fatalf("X-Empty %q (nil %v)", got, got == nil)
	}
	if r.Header("Missing") != nil {
		t.Fatal("Missing found")
	}
}

func TestDecodeChunked(t *testing.T) {
	head := "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	tests := []struct {
		name, body string
		status     int
		want       string
		rest       int // bytes after the request
	}{
		{name: "two chunks", body: "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n", want: "hello, world"},
		{name: "hex sizes", body: "A\r\n0123456789\r\n0\r\n\r\n", want: "0123456789"},
		{name: "trailers", body: "3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n", want: "abc"},
		{name: "bare LF", body: "3\nabc\n0\n\n", want: "abc"},
		{name: "pipelined after", body: "1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n", want: "a", rest: len("GET / HTTP/1.1\r\n")},
		{name: "empty", body: "0\r\n\r\n", want: ""},
		{name: "incomplete size", body: "5", status: needMore},
		{name: "incomplete data", body: "5\r\nhel", status: needMore},
		{name: "incomplete after data", body: "5\r\nhello", status: needMore},
		{name: "incomplete CRLF", body: "5\r\nhello\r", status: needMore},
		{name: "incomplete last", body: "5\r\nhello\r\n0\r\n", status: needMore},
		{name: "bad size", body: "x\r\n", status: 400},
		{name: "negative size", body: "-1\r\n", status: 400},
		{name: "junk after size", body: "5 x\r\nhello\r\n0\r\n\r\n", status: 400},
		{name: "no CRLF after data", body: "5\r\nhelloX\r\n0\r\n\r\n", status: 400},
		{name: "huge size", body: "ffffffffffffffffff\r\n", status: 400},
		{name: "too large", body: "1001\r\n", status: 413},
		{name: "too large in sum", body: "800\r\n" + strings.Repeat("a", 0x800) + "\r\n801\r\n", status: 413},
		{name: "bad trailer", body: "0\r\nnot a field\r\n\r\n", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(head + tt.body)
			var r request
			if st := parseHead(in, &r, &testLimits); st != parsed {
				t.Fatalf("head: status %d", st)
			}
			n, st, _ := r.decodeChunked(in, nil, &testLimits)
			if st != tt.status {
				t.Fatalf("status %d, want %d", st, tt.status)
			}
			if st != parsed {
				return
			}
			if string(r.body) != tt.want || n != len(in)-tt.rest {
				t.Fatalf("body %q, n %d; want %q, %d", r.body, n, tt.want, len(in)-tt.rest)
			}
		})
	}
}

// TestParseAgreesWithNetHTTP checks requests that both parsers accept for
// the same method, path and body length, in particular the ones net/http's
// own tests and clients send.
func TestParseAgreesWithNetHTTP(t *testing.T) {
	for _, in := range []string{
		"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
		"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /json?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	} {
		checkAgainstNetHTTP(t, []byte(in))
	}
}

// checkAgainstNetHTTP parses in with both parsers; when ours accepts a
// request, net/http must too, with the same method, path, body and
// keep-alive verdict.
func checkAgainstNetHTTP(t *testing.T, in []byte) {
	t.Helper()
	s := newServer(limits{headerBytes: 1 << 16, bodyBytes: 1 << 16})
	n, st := s.parseOne(in)
	if st != parsed {
		return
	}
	if _, err := url.ParseRequestURI(string(s.req.target)); err != nil {
		// net/http also checks the target as a URL (host names, escapes);
		// this server routes on the raw path and leaves that alone.
		return
	}
	// net/http does not skip the empty lines that RFC 9112 section 2.2
	// lets a server ignore before the request line.
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(bytes.TrimLeft(in[:n], "\r\n"))))
	if err != nil {
		t.Fatalf("we accept %q, net/http does not: %v", in[:n], err)
	}
	body := new(bytes.Buffer)
	if _, err := body.ReadFrom(req.Body); err != nil {
		t.Fatalf("we accept %q, net/http fails reading its body: %v", in[:n], err)
	}
	if req.Method != string(s.req.method) || req.RequestURI != string(s.req.target) ||
		!bytes.Equal(body.Bytes(), s.req.body) || req.Close == s.req.keepAlive {
		t.Fatalf("%q: net/http has %s %s body %q close %v; we have %s %s body %q keepAlive %v",
			in[:n], req.Method, req.RequestURI, body.Bytes(), req.Close, s.req.method, s.req.target, s.req.body, s.req.keepAlive)
	}
}
