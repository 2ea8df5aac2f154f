//go:build !windows

package main

import (
	"bytes"
	"math"
)

// The HTTP/1.1 request parser (RFC 9112): request line, header section
// and message body, over the bytes the connection has buffered. It never
// allocates: every field of a request is a slice of the input (valid
// until the input is consumed), and the only state between calls is the
// input itself, so a request that arrives in pieces is parsed again from
// its start when more arrives. A header section is at most
// limits.headerBytes, so re-parsing costs little, and it keeps the parser
// free of resumable state.

// Result codes of the parser besides an HTTP status: the input holds a
// complete request (parsed), or not yet (needMore).
const (
	parsed   = 0
	needMore = -1
)

// maxHeaders is how many header fields a request may have: the parser
// keeps each as a pair of slices in a fixed array, so that it never
// allocates. More is a 431, like a header section that is too long.
const maxHeaders = 64

// limits bounds what a request may send. A header section longer than
// headerBytes is answered 431, a body longer than bodyBytes 413; both
// then close the connection, since the rest of the request is not read.
type limits struct {
	headerBytes int // request line + header fields + the blank line
	bodyBytes   int // the body, after any chunked coding is removed
}

// header is one header field, name and value slices of the input. The
// value has its surrounding whitespace removed.
type header struct {
	name, value []byte
}

// request is one parsed request. Slices point into the input buffer.
// The header fields are apart from the rest, which reset clears: zeroing
// the 3 KiB array for every request cost more than parsing one.
type request struct {
	requestHead
	headers [maxHeaders]header
}

// requestHead is all of a request but its header fields.
type requestHead struct {
	method []byte
	target []byte // the request-target as sent
	path   []byte // the target's path (origin-form), or "*"
	query  []byte // after '?', without it; nil if none
	minor  int    // HTTP/1.<minor>: 0 or 1

	numHeaders int // headers[:numHeaders] are this request's

	// headLen is the length of the request line and header section,
	// including the blank line; the body starts there.
	headLen int
	// contentLength is the Content-Length, or -1 when none was sent.
	contentLength int64
	chunked       bool // Transfer-Encoding: chunked
	keepAlive     bool // the connection may carry another request after this one
	expectCont    bool // Expect: 100-continue
	hasHost       bool
	connFlags     int // connKeepAlive, connClose: the Connection options seen

	// body is the message body: a slice of the input for Content-Length,
	// of the connection's decoding buffer for chunked bodies.
	body []byte
}

// Header returns the value of the first header field named name (compared
// without regard to case), or nil.
func (r *request) Header(name string) []byte {
	for i := range r.numHeaders {
		if equalFold(r.headers[i].name, name) {
			return r.headers[i].value
		}
	}
	return nil
}

// reset clears r for the next request, keeping nothing of the last
// (header fields beyond numHeaders are never read).
func (r *request) reset() {
	r.requestHead = requestHead{contentLength: -1}
}

// parseHead parses the request line and header section at the start of
// buf into r. It returns parsed (with r.headLen set), needMore when buf
// holds no complete header section yet (and it is still within
// lim.headerBytes), or the HTTP status to answer with: 400 for malformed
// syntax, 431 for a header section that is too long or has too many
// fields, 413 for a Content-Length beyond lim.bodyBytes, 501 for a
// transfer coding other than chunked, 505 for a major version other than 1,
// 417 for an expectation other than 100-continue.
func parseHead(buf []byte, r *request, lim *limits) int {
	r.reset()
	// RFC 9112 section 2.2: a server SHOULD ignore at least one empty line
	// received before the request line. Bound the count: the empty lines
	// count towards the header section's limit.
	pos := 0
	for pos < len(buf) && (buf[pos] == '\r' || buf[pos] == '\n') {
		if buf[pos] == '\r' && (pos+1 >= len(buf) || buf[pos+1] != '\n') {
			if pos+1 >= len(buf) {
				return needMore
			}
			return 400
		}
		pos++
	}
	if pos > 8 {
		return 400
	}
	// The request line.
	line, next, st := nextLine(buf, pos, lim.headerBytes)
	if st != parsed {
		return st
	}
	if st := r.parseRequestLine(line); st != parsed {
		return st
	}
	pos = next
	// Header fields, until the empty line.
	for {
		line, next, st = nextLine(buf, pos, lim.headerBytes)
		if st != parsed {
			return st
		}
		pos = next
		if len(line) == 0 {
			break
		}
		if st := r.parseField(line, lim); st != parsed {
			return st
		}
	}
	r.headLen = pos
	return r.finishHead()
}

// nextLine returns the line of buf that starts at pos, without its line
// ending, and where the next line starts. A line ends in CRLF, or in a
// bare LF (RFC 9112 section 2.2 lets a recipient accept it); a CR anywhere
// else is a 400. needMore when no line ending has arrived yet, 431 when
// the header section would exceed limit bytes. (It searches with
// bytes.IndexByte, which is vectorized; nextLineBytewise in the tests is
// the plain loop it must agree with.)
func nextLine(buf []byte, pos, limit int) (line []byte, next int, status int) {
	end := min(len(buf), limit)
	var seg []byte
	if pos < end {
		seg = buf[pos:end]
	}
	if i := bytes.IndexByte(seg, '\n'); i >= 0 {
		line = seg[:i]
		if i > 0 && line[i-1] == '\r' {
			line = line[:i-1]
		}
		if bytes.IndexByte(line, '\r') >= 0 {
			return nil, 0, 400
		}
		return line, pos + i + 1, parsed
	}
	// No line ending within the limit. A CR followed by anything but LF
	// is malformed whether or not the limit was reached.
	if k := bytes.IndexByte(seg, '\r'); k >= 0 && (k+1 < len(seg) || end < len(buf) && buf[end] != '\n') {
		return nil, 0, 400
	}
	if len(buf) >= limit {
		return nil, 0, 431
	}
	return nil, 0, needMore
}

// parseRequestLine parses "method SP request-target SP HTTP-version".
func (r *request) parseRequestLine(line []byte) int {
	sp1 := indexByte(line, ' ')
	if sp1 <= 0 {
		return 400
	}
	r.method = line[:sp1]
	for _, b := range r.method {
		if !isTokenChar(b) {
			return 400
		}
	}
	rest := line[sp1+1:]
	sp2 := indexByte(rest, ' ')
	if sp2 <= 0 {
		return 400
	}
	r.target = rest[:sp2]
	version := rest[sp2+1:]
	for _, b := range r.target {
		if b <= ' ' || b == 0x7f {
			return 400
		}
	}
	if st := r.parseVersion(version); st != parsed {
		return st
	}
	return r.splitTarget()
}

// parseVersion accepts "HTTP/1.0" and "HTTP/1.1"; another well-formed
// version is a 505 (major other than 1) or treated as 1.1 (RFC 9110
// section 6.2: a higher minor version of 1 is answered as 1.1).
func (r *request) parseVersion(v []byte) int {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' || !isDigit(v[5]) || !isDigit(v[7]) {
		return 400
	}
	if v[5] != '1' {
		return 505
	}
	r.minor = min(int(v[7]-'0'), 1)
	return parsed
}

// splitTarget finds the path and query of the request-target: origin-form
// ("/path?query"), asterisk-form ("*", OPTIONS only) or absolute-form
// ("http://host/path?query", which proxies send and servers must accept).
// Authority-form (CONNECT) is a 400: this server is no proxy.
func (r *request) splitTarget() int {
	t := r.target
	switch {
	case len(t) > 0 && t[0] == '/':
	case string(t) == "*":
		if string(r.method) != "OPTIONS" {
			return 400
		}
		r.path = t
		return parsed
	case hasPrefixFold(t, "http://") || hasPrefixFold(t, "https://"):
		rest := t[indexByte(t, ':')+3:]
		slash := indexByte(rest, '/')
		if slash < 0 {
			// "http://host" and "http://host?q" mean the path "/": RFC
			// 9112 section 3.2.2 has such a target's path as "/", and a
			// slice of a constant keeps it free of allocation.
			r.path = rootPath
			if q := indexByte(rest, '?'); q >= 0 {
				r.query = rest[q+1:]
			}
			return parsed
		}
		t = rest[slash:]
	default:
		return 400
	}
	if q := indexByte(t, '?'); q >= 0 {
		r.path, r.query = t[:q], t[q+1:]
	} else {
		r.path = t
	}
	return parsed
}

var rootPath = []byte("/")

// parseField parses "name: value" and records what the server acts on:
// Content-Length, Transfer-Encoding, Connection, Expect and Host.
func (r *request) parseField(line []byte, lim *limits) int {
	colon := indexByte(line, ':')
	if colon <= 0 {
		return 400 // also a line that starts with whitespace: obsolete line folding
	}
	name := line[:colon]
	for _, b := range name {
		if !isTokenChar(b) {
			return 400 // RFC 9112 section 5.1: no whitespace between name and colon
		}
	}
	value := trimOWS(line[colon+1:])
	for _, b := range value {
		if (b < ' ' && b != '\t') || b == 0x7f {
			return 400
		}
	}
	if r.numHeaders == maxHeaders {
		return 431
	}
	r.headers[r.numHeaders] = header{name, value}
	r.numHeaders++
	switch {
	case equalFold(name, "Content-Length"):
		n, ok := parseContentLength(value)
		if !ok || (r.contentLength >= 0 && n != r.contentLength) {
			return 400 // RFC 9112 section 6.3: invalid, or differing values
		}
		if n > int64(lim.bodyBytes) {
			return 413
		}
		r.contentLength = n
	case equalFold(name, "Transfer-Encoding"):
		// RFC 9112 section 6.3: when chunked is not the final coding the
		// body's length cannot be known (400); a coding before it is one
		// this server does not implement (501). A second field after
		// chunked would put a coding after it.
		last := value
		if c := lastIndexByte(value, ','); c >= 0 {
			last = trimOWS(value[c+1:])
		}
		switch {
		case r.chunked || !equalFold(last, "chunked"):
			return 400
		case len(last) != len(value):
			return 501
		}
		r.chunked = true
	case equalFold(name, "Connection"):
		r.connFlags |= connectionTokens(value)
	case equalFold(name, "Expect"):
		if !equalFold(value, "100-continue") {
			return 417
		}
		r.expectCont = true
	case equalFold(name, "Host"):
		if r.hasHost {
			return 400 // RFC 9112 section 3.2: more than one Host
		}
		r.hasHost = true
	}
	return parsed
}

// Connection options seen (request.connFlags): close wins over
// keep-alive whatever the order; finishHead decides keepAlive from them.
const (
	connKeepAlive = 1 << iota
	connClose
)

// connectionTokens returns the options of a Connection field's value, a
// comma-separated list of tokens.
func connectionTokens(list []byte) int {
	flags := 0
	for len(list) > 0 {
		var tok []byte
		if c := indexByte(list, ','); c < 0 {
			tok, list = list, nil
		} else {
			tok, list = list[:c], list[c+1:]
		}
		switch tok = trimOWS(tok); {
		case equalFold(tok, "close"):
			flags |= connClose
		case equalFold(tok, "keep-alive"):
			flags |= connKeepAlive
		}
	}
	return flags
}

// finishHead checks the header section as a whole and decides keep-alive.
func (r *request) finishHead() int {
	if r.minor == 1 && !r.hasHost {
		return 400 // RFC 9112 section 3.2: HTTP/1.1 requires Host
	}
	if r.chunked {
		if r.contentLength >= 0 {
			// RFC 9112 section 6.1: both is a request smuggling vector; a
			// server may reject it, and must then close.
			r.connFlags |= connClose
			return 400
		}
		if r.minor == 0 {
			return 400 // RFC 9112 section 6.1: chunked needs HTTP/1.1
		}
	}
	switch {
	case r.connFlags&connClose != 0:
		r.keepAlive = false
	case r.minor == 1:
		r.keepAlive = true
	default:
		r.keepAlive = r.connFlags&connKeepAlive != 0
	}
	return parsed
}

// parseContentLength parses 1*DIGIT. A value too large for an int64 is
// returned as the largest one, which every limit refuses (413), rather
// than as malformed (400).
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, b := range v {
		if !isDigit(b) {
			return 0, false
		}
		if n > (math.MaxInt64-9)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(b-'0')
	}
	return n, true
}

// fixedBody returns how many bytes of buf (which starts with the request's
// header section) the request occupies when its body is sized by
// Content-Length, or needMore.
func (r *request) fixedBody(buf []byte) int {
	end := r.headLen + int(max(r.contentLength, 0))
	if len(buf) < end {
		return needMore
	}
	r.body = buf[r.headLen:end]
	return end
}

// decodeChunked decodes the chunked body that starts at buf[r.headLen:]
// into dst (from its start) and sets r.body to the decoded bytes. It
// returns the length of the whole request in buf and parsed, or needMore,
// or a status: 400 for malformed chunks, 413 when the decoded body would
// exceed lim.bodyBytes, 431 when the trailer section exceeds
// lim.headerBytes. Trailer fields are checked for syntax and dropped. The
// returned dst is the buffer to keep for the next call: it grows to the
// largest body and is reused.
func (r *request) decodeChunked(buf []byte, dst []byte, lim *limits) (n, status int, out []byte) {
	dst = dst[:0]
	pos := r.headLen
	for {
		// chunk-size [ chunk-ext ] CRLF
		line, next, st := nextLine(buf, pos, pos+maxChunkLine)
		if st == 431 {
			return 0, 400, dst // a chunk line longer than any sane one
		}
		if st != parsed {
			return 0, st, dst
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return 0, 400, dst
		}
		if size > int64(lim.bodyBytes-len(dst)) {
			return 0, 413, dst
		}
		pos = next
		if size == 0 {
			break
		}
		end := pos + int(size)
		if len(buf) < end+1 {
			return 0, needMore, dst
		}
		dst = append(dst, buf[pos:end]...)
		// The data is followed by CRLF (or a bare LF, as lines may be).
		switch {
		case buf[end] == '\n':
			pos = end + 1
		case buf[end] == '\r':
			if len(buf) < end+2 {
				return 0, needMore, dst
			}
			if buf[end+1] != '\n' {
				return 0, 400, dst
			}
			pos = end + 2
		default:
			return 0, 400, dst
		}
	}
	// trailer-section CRLF
	trailerStart := pos
	for {
		line, next, st := nextLine(buf, pos, trailerStart+lim.headerBytes)
		if st != parsed {
			return 0, st, dst
		}
		pos = next
		if len(line) == 0 {
			break
		}
		colon := indexByte(line, ':')
		if colon <= 0 {
			return 0, 400, dst
		}
		for _, b := range line[:colon] {
			if !isTokenChar(b) {
				return 0, 400, dst
			}
		}
	}
	r.body = dst
	return pos, parsed, dst
}

// maxChunkLine bounds a chunk-size line with its extensions.
const maxChunkLine = 256

// parseChunkSize parses "1*HEXDIG [ BWS ; chunk-ext ]".
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d := unhex(line[i])
		if d < 0 {
			break
		}
		if i >= 15 {
			return 0, false // more than 2^60: no body this server accepts
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return 0, false
	}
	rest := trimOWS(line[i:])
	if len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	for _, b := range rest {
		if (b < ' ' && b != '\t') || b == 0x7f {
			return 0, false
		}
	}
	return n, true
}

func unhex(b byte) int {
	switch {
	case '0' <= b && b <= '9':
		return int(b - '0')
	case 'a' <= b && b <= 'f':
		return int(b-'a') + 10
	case 'A' <= b && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}

// Byte helpers. The standard library's bytes package would serve, but
// these take string arguments without a conversion and inline.

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// isTokenChar reports whether b may appear in a token (RFC 9110 section
// 5.6.2): method names and header field names.
func isTokenChar(b byte) bool { return b < 0x80 && tokenTable[b] }

var tokenTable = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// equalFold compares b and s without regard to ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(s) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && equalFold(b[:len(prefix)], prefix)
}

// trimOWS removes optional whitespace (SP, HTAB) at both ends.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
