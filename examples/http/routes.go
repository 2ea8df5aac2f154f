//go:build !windows

package main

import (
	"strconv"
	"time"
)

// route is one path the server answers, the methods it accepts there (a
// request with another method is a 405 listing them in Allow), and the
// handler that writes the response.
type route struct {
	path    string
	methods []string
	allow   string // methods, as the Allow header lists them
	serve   func(h *handlers, req *request, w *responseWriter)
}

// handlers holds what the handlers reuse from one request to the next,
// so that answering one allocates nothing: one set per loop, since
// everything runs on the loop's goroutine.
type handlers struct {
	routes  []route
	scratch []byte
}

// maxChunks bounds GET /chunked?n=: its whole body is written in one go.
const maxChunks = 10000

func newHandlers() *handlers {
	h := &handlers{}
	get := []string{"GET", "HEAD"}
	post := []string{"POST", "PUT"}
	h.routes = []route{
		{"/plaintext", get, "GET, HEAD", (*handlers).plaintext},
		{"/json", get, "GET, HEAD", (*handlers).json},
		{"/chunked", get, "GET, HEAD", (*handlers).chunked},
		{"/echo", post, "POST, PUT", (*handlers).echo},
		{"/", get, "GET, HEAD", (*handlers).index},
	}
	return h
}

// serve routes req to its handler: 404 for a path no route has, 405 for
// a method its route does not accept, OPTIONS answered for every path.
func (h *handlers) serve(req *request, w *responseWriter) {
	for i := range h.routes {
		rt := &h.routes[i]
		if string(req.path) != rt.path {
			continue
		}
		for _, m := range rt.methods {
			if string(req.method) == m {
				rt.serve(h, req, w)
				return
			}
		}
		if string(req.method) == "OPTIONS" {
			w.begin(200)
			w.header("Allow", rt.allow+", OPTIONS")
			w.fixedString("text/plain; charset=utf-8", "")
			return
		}
		w.begin(405)
		w.header("Allow", rt.allow+", OPTIONS")
		w.fixedString("text/plain; charset=utf-8", statusBody(405))
		return
	}
	w.errorResponse(404)
}

// plaintext is TechEmpower's plaintext test: a constant body.
func (h *handlers) plaintext(_ *request, w *responseWriter) {
	w.begin(200)
	w.fixedString("text/plain", "Hello, World!")
}

// jsonMessage is what GET /json serializes, once per request (as
// TechEmpower's JSON test asks), without encoding/json's allocations.
type jsonMessage struct {
	Message string
}

func (m *jsonMessage) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"message":`...)
	dst = appendJSONString(dst, m.Message)
	return append(dst, '}')
}

func (h *handlers) json(_ *request, w *responseWriter) {
	msg := jsonMessage{Message: "Hello, World!"}
	h.scratch = msg.appendJSON(h.scratch[:0])
	w.begin(200)
	w.fixed("application/json", h.scratch)
}

// chunked answers a chunked body: "chunk 1 of N\n" ... with N from the
// query (?n=N, 1..maxChunks, default 5). With ?delay_ms=D (1..10000) the
// chunks are streamed, one every D milliseconds, from the loop's timers
// (see stream); otherwise they are all written at once.
func (h *handlers) chunked(req *request, w *responseWriter) {
	n, delayMs := 5, 0
	if v, ok := queryValue(req.query, "n"); ok {
		parsedN, ok := parseDecimal(v)
		if !ok || parsedN < 1 || parsedN > maxChunks {
			w.begin(400)
			w.fixedString("text/plain; charset=utf-8", "n must be an integer in 1..10000\n")
			return
		}
		n = parsedN
	}
	if v, ok := queryValue(req.query, "delay_ms"); ok {
		parsed, ok := parseDecimal(v)
		if !ok || parsed < 1 || parsed > maxDelayMs {
			w.begin(400)
			w.fixedString("text/plain; charset=utf-8", "delay_ms must be an integer in 1..10000\n")
			return
		}
		delayMs = parsed
	}
	w.begin(200)
	w.startChunked("text/plain; charset=utf-8")
	if delayMs > 0 && !w.head {
		// The rest comes from the timer: the server holds the requests
		// pipelined behind this one until the stream ends.
		w.streamRequest = streamRequest{total: n, delay: time.Duration(delayMs) * time.Millisecond}
		return
	}
	for i := 1; i <= n; i++ {
		h.scratch = appendChunkText(h.scratch[:0], i, n)
		w.chunk(h.scratch)
	}
	w.endChunked()
}

// maxDelayMs bounds GET /chunked?delay_ms=.
const maxDelayMs = 10000

// appendChunkText appends the text of chunk i of n.
func appendChunkText(b []byte, i, n int) []byte {
	b = append(b, "chunk "...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, " of "...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\n')
}

// echo answers the request's body, as sent with Content-Length or
// chunked, with the request's Content-Type.
func (h *handlers) echo(req *request, w *responseWriter) {
	ct := req.Header("Content-Type")
	w.begin(200)
	if len(ct) == 0 {
		w.fixed("application/octet-stream", req.body)
		return
	}
	writeFixed(w, ct, req.body)
}

const indexBody = `ioloop examples/http
GET  /plaintext   Hello, World! as text/plain
GET  /json        {"message":"Hello, World!"} as application/json
GET  /chunked?n=N a chunked body of N chunks (default 5); &delay_ms=D streams them D ms apart
POST /echo        the request body back (Content-Length or chunked)
`

func (h *handlers) index(_ *request, w *responseWriter) {
	w.begin(200)
	w.fixedString("text/plain; charset=utf-8", indexBody)
}

// queryValue returns the value of the first key=value pair of query named
// key, undecoded.
func queryValue(query []byte, key string) ([]byte, bool) {
	for len(query) > 0 {
		var pair []byte
		if amp := indexByte(query, '&'); amp >= 0 {
			pair, query = query[:amp], query[amp+1:]
		} else {
			pair, query = query, nil
		}
		name, value := pair, []byte(nil)
		if eq := indexByte(pair, '='); eq >= 0 {
			name, value = pair[:eq], pair[eq+1:]
		}
		if string(name) == key {
			return value, true
		}
	}
	return nil, false
}

// appendJSONString appends s as a JSON string, escaping what RFC 8259
// requires: quotation mark, backslash and control characters. (Unlike
// encoding/json it leaves <, > and & alone: the body is application/json,
// never embedded in HTML.)
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// parseDecimal parses a small unsigned decimal number (strconv.Atoi would
// need a string, and its error keeps one: an allocation).
func parseDecimal(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 9 {
		return 0, false
	}
	n := 0
	for _, b := range v {
		if !isDigit(b) {
			return 0, false
		}
		n = n*10 + int(b-'0')
	}
	return n, true
}
