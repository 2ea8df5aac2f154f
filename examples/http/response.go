//go:build !windows

package main

import (
	"strconv"
	"time"
)

// responseWriter appends responses to out, in order. The server gives
// every connection's OnData one writer, runs each complete request's
// handler into it, and hands everything it holds to the connection in one
// Write after the last: the responses to pipelined requests go out in
// request order, in one send per read. Nothing here allocates once out
// has grown to the largest batch of responses.
//
// A handler writes one response: begin, any extra headers, then either
// fixed (a body of known length) or startChunked followed by chunks and
// endChunked.
type responseWriter struct {
	out []byte

	date *dateCache

	// The request being answered: its HTTP minor version, whether the
	// connection stays open after it (a handler may clear it), and whether
	// it was a HEAD (no body is sent, the headers are as for GET).
	minor     int
	keepAlive bool
	head      bool

	// chunkedBody: startChunked has run and endChunked has not; on an
	// HTTP/1.0 connection, which has no chunked coding, the body is sent
	// as it is and ends with the connection (rawBody).
	chunkedBody bool
	rawBody     bool
	// wrote counts the responses written (each begin).
	wrote int

	// streamRequest, when total > 0, is a handler's request to go on
	// writing its chunked body after it returns (GET /chunked?delay_ms=):
	// the server then holds the requests behind it until the stream ends.
	streamRequest streamRequest
}

// streamRequest describes a streamed chunked body: total chunks, one
// every delay.
type streamRequest struct {
	total int
	delay time.Duration
}

// prepare readies w for the response to req.
func (w *responseWriter) prepare(req *request) {
	w.minor, w.keepAlive, w.head = req.minor, req.keepAlive, string(req.method) == "HEAD"
	w.chunkedBody, w.rawBody = false, false
	w.streamRequest = streamRequest{}
}

// begin writes the status line and the headers every response has.
func (w *responseWriter) begin(status int) {
	w.wrote++
	// RFC 9110 section 6.2: a server sends the highest version it
	// conforms to, also to an HTTP/1.0 client (minor decides what the
	// response may use: no chunked coding for 1.0).
	w.out = append(w.out, "HTTP/1.1 "...)
	w.out = strconv.AppendInt(w.out, int64(status), 10)
	w.out = append(w.out, ' ')
	w.out = append(w.out, statusText(status)...)
	w.out = append(w.out, "\r\nServer: ioloop\r\nDate: "...)
	w.out = append(w.out, w.date.bytes()...)
	w.out = append(w.out, "\r\n"...)
}

// header writes one more header field.
func (w *responseWriter) header(name, value string) {
	w.out = append(w.out, name...)
	w.out = append(w.out, ": "...)
	w.out = append(w.out, value...)
	w.out = append(w.out, "\r\n"...)
}

// connectionHeader says whether the connection stays open: HTTP/1.1
// keeps it open unless told, HTTP/1.0 closes it unless told.
func (w *responseWriter) connectionHeader() {
	switch {
	case !w.keepAlive:
		w.out = append(w.out, "Connection: close\r\n"...)
	case w.minor == 0:
		w.out = append(w.out, "Connection: keep-alive\r\n"...)
	}
}

// fixed ends the header section with Content-Type and Content-Length and
// writes body (not for a HEAD request).
func (w *responseWriter) fixed(contentType string, body []byte) { writeFixed(w, contentType, body) }

// fixedString is fixed for a constant body.
func (w *responseWriter) fixedString(contentType, body string) { writeFixed(w, contentType, body) }

// writeFixed is fixed for any mix of string and []byte arguments.
func writeFixed[C, B string | []byte](w *responseWriter, contentType C, body B) {
	w.out = append(w.out, "Content-Type: "...)
	w.out = append(w.out, contentType...)
	w.out = append(w.out, "\r\nContent-Length: "...)
	w.out = strconv.AppendInt(w.out, int64(len(body)), 10)
	w.out = append(w.out, "\r\n"...)
	w.connectionHeader()
	w.out = append(w.out, "\r\n"...)
	if !w.head {
		w.out = append(w.out, body...)
	}
}

// startChunked ends the header section of a response whose body follows
// in chunks. HTTP/1.0 has no chunked coding: there the body is sent as it
// is and the connection closes after it, which is how it ends.
func (w *responseWriter) startChunked(contentType string) {
	w.out = append(w.out, "Content-Type: "...)
	w.out = append(w.out, contentType...)
	w.out = append(w.out, "\r\n"...)
	if w.minor == 0 {
		w.keepAlive = false
		w.rawBody = true
	} else {
		w.out = append(w.out, "Transfer-Encoding: chunked\r\n"...)
		w.chunkedBody = true
	}
	w.connectionHeader()
	w.out = append(w.out, "\r\n"...)
}

// chunk writes p as one chunk (nothing for an empty p: a chunk of size 0
// would end the body).
func (w *responseWriter) chunk(p []byte) {
	switch {
	case w.head || len(p) == 0:
	case w.rawBody:
		w.out = append(w.out, p...)
	case w.chunkedBody:
		w.out = appendChunk(w.out, p)
	default:
		panic("http: chunk without startChunked")
	}
}

// appendChunk appends p in the chunked coding: size in hex, CRLF, data,
// CRLF.
func appendChunk(dst, p []byte) []byte {
	dst = strconv.AppendUint(dst, uint64(len(p)), 16)
	dst = append(dst, "\r\n"...)
	dst = append(dst, p...)
	return append(dst, "\r\n"...)
}

// lastChunk ends a chunked body: the chunk of size 0 and an empty trailer
// section.
const lastChunk = "0\r\n\r\n"

// endChunked writes the last chunk (size 0) and the empty trailer section.
func (w *responseWriter) endChunked() {
	if w.chunkedBody && !w.head {
		w.out = append(w.out, lastChunk...)
	}
	w.chunkedBody = false
}

// errorResponse writes a whole response for status with its reason
// phrase as a text/plain body.
func (w *responseWriter) errorResponse(status int) {
	w.begin(status)
	w.fixedString("text/plain; charset=utf-8", statusBody(status))
}

// statusText is the reason phrase of each status this server sends.
func statusText(status int) string {
	switch status {
	case 100:
		return "Continue"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 413:
		return "Content Too Large"
	case 417:
		return "Expectation Failed"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Unknown"
}

// statusBody is the body of an error response: the status and its
// phrase, as constants so that writing one does not allocate.
func statusBody(status int) string {
	switch status {
	case 400:
		return "400 Bad Request\n"
	case 404:
		return "404 Not Found\n"
	case 405:
		return "405 Method Not Allowed\n"
	case 413:
		return "413 Content Too Large\n"
	case 417:
		return "417 Expectation Failed\n"
	case 431:
		return "431 Request Header Fields Too Large\n"
	case 501:
		return "501 Not Implemented\n"
	case 505:
		return "505 HTTP Version Not Supported\n"
	}
	return "500 Internal Server Error\n"
}

// dateCache holds the Date header's value (RFC 9110 section 5.6.7,
// IMF-fixdate), formatted again only when the second changes: at most
// once a second, however many responses go out in it.
type dateCache struct {
	unix int64
	buf  []byte
	now  func() time.Time // time.Now; tests set their own clock
}

// imfFixdate is the Date layout: time.Format's for RFC 9110's format.
const imfFixdate = "Mon, 02 Jan 2006 15:04:05 GMT"

func newDateCache() *dateCache {
	return &dateCache{unix: -1, buf: make([]byte, 0, len(imfFixdate)), now: time.Now}
}

// refresh reads the clock: once per batch of requests (per OnData), not
// per response.
func (d *dateCache) refresh() {
	t := d.now()
	if s := t.Unix(); s != d.unix {
		d.unix = s
		d.buf = t.UTC().AppendFormat(d.buf[:0], imfFixdate)
	}
}

func (d *dateCache) bytes() []byte { return d.buf }
