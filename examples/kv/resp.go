//go:build !windows

package main

import (
	"errors"
	"strconv"
)

// The RESP2 request parser. A request is either a multibulk array of
// bulk strings (what every client library, redis-cli and redis-benchmark
// send):
//
//	*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n
//
// or an inline command, one line of words separated by blanks (what a
// person types into telnet, and what `redis-cli --pipe` tolerates):
//
//	SET k v\r\n
//
// The parser works on the bytes buffered so far. It either finds one
// complete request at the front and returns its arguments as slices of
// the input (no copy) and its length, reports that the request is not
// complete yet (wait for more input: nothing is consumed, nothing is
// remembered, the next call parses again from the start), or reports a
// protocol error, after which the connection is closed as Redis does.
// Re-parsing a partial request from its start costs a second scan of its
// header only: a request's bulk payloads are skipped by their lengths.

// Limits, as Redis's defaults (proto-max-bulk-len is 512 MiB there; a
// key-value server that buffers whole requests in memory keeps it
// smaller).
const (
	maxBulkBytes   = 64 << 20 // one argument
	maxArgs        = 1 << 20  // arguments of one request
	maxInlineBytes = 64 << 10 // an inline command, or a header line
)

// errProtocol is a malformed request; its text follows Redis's replies
// ("-ERR Protocol error: ...").
type errProtocol string

func (e errProtocol) Error() string { return "Protocol error: " + string(e) }

var errIncomplete = errors.New("incomplete request")

// parser holds the argument slice that parse reuses: the slices it
// returns are valid until the next call, and point into the input.
type parser struct {
	args [][]byte
	// inline allows inline commands; the AOF replay turns it off, so
	// that zeros or garbage after a torn write never parse as a command.
	inline bool
}

// parse returns the first request in buf: its arguments and its length
// in bytes. err is errIncomplete when buf holds only part of it, or an
// errProtocol. An empty request (a blank inline line, or "*0\r\n") has
// no arguments and a positive length: skip it.
func (p *parser) parse(buf []byte) (args [][]byte, n int, err error) {
	if len(buf) == 0 {
		return nil, 0, errIncomplete
	}
	if buf[0] != '*' {
		if !p.inline {
			return nil, 0, errProtocol("expected '*', got '" + printable(buf[0]) + "'")
		}
		return p.parseInline(buf)
	}
	count, pos, err := parseHeader(buf, 1)
	if err != nil {
		return nil, 0, err
	}
	if count > maxArgs {
		return nil, 0, errProtocol("invalid multibulk length")
	}
	p.args = p.args[:0]
	for i := 0; i < count; i++ {
		if pos >= len(buf) {
			return nil, 0, errIncomplete
		}
		if buf[pos] != '$' {
			return nil, 0, errProtocol("expected '$', got '" + printable(buf[pos]) + "'")
		}
		size, next, err := parseHeader(buf, pos+1)
		if err != nil {
			return nil, 0, err
		}
		if size < 0 || size > maxBulkBytes {
			return nil, 0, errProtocol("invalid bulk length")
		}
		end := next + size
		if end+2 > len(buf) {
			return nil, 0, errIncomplete
		}
		if buf[end] != '\r' || buf[end+1] != '\n' {
			return nil, 0, errProtocol("bulk string not terminated by CRLF")
		}
		p.args = append(p.args, buf[next:end])
		pos = end + 2
	}
	return p.args, pos, nil
}

// parseHeader reads the decimal number that starts at buf[pos] and ends
// with CRLF (after '*' or '$'), and returns it with the position after
// the CRLF. A negative count ("*-1", a null array) is returned as is.
func parseHeader(buf []byte, pos int) (value, next int, err error) {
	neg := false
	if pos < len(buf) && buf[pos] == '-' {
		neg = true
		pos++
	}
	start := pos
	for ; pos < len(buf); pos++ {
		b := buf[pos]
		if b == '\r' {
			break
		}
		if b < '0' || b > '9' || pos-start >= 10 {
			return 0, 0, errProtocol("invalid length")
		}
		value = value*10 + int(b-'0')
	}
	if pos+1 >= len(buf) {
		if len(buf)-start > maxInlineBytes {
			return 0, 0, errProtocol("too big header")
		}
		return 0, 0, errIncomplete
	}
	if pos == start || buf[pos+1] != '\n' {
		return 0, 0, errProtocol("invalid length")
	}
	if neg {
		value = -value
	}
	return value, pos + 2, nil
}

// parseInline splits one line (ended by LF, with an optional CR before
// it) into blank-separated words. Quotes are not interpreted.
func (p *parser) parseInline(buf []byte) ([][]byte, int, error) {
	end := -1
	for i, b := range buf {
		if b == '\n' {
			end = i
			break
		}
	}
	if end < 0 {
		if len(buf) > maxInlineBytes {
			return nil, 0, errProtocol("too big inline request")
		}
		return nil, 0, errIncomplete
	}
	line := buf[:end]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	p.args = p.args[:0]
	for i := 0; i < len(line); {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		start := i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		if i > start {
			p.args = append(p.args, line[start:i])
		}
	}
	return p.args, end + 1, nil
}

func printable(b byte) string {
	if b >= 0x20 && b < 0x7f {
		return string(rune(b))
	}
	return "\\x" + strconv.FormatUint(uint64(b), 16)
}

// Reply encoders: each appends one RESP2 value to dst.

func appendSimple(dst []byte, s string) []byte {
	dst = append(dst, '+')
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

func appendError(dst []byte, msg string) []byte {
	dst = append(dst, '-')
	dst = append(dst, msg...)
	return append(dst, '\r', '\n')
}

func appendInt(dst []byte, v int64) []byte {
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, '\r', '\n')
}

func appendBulk(dst []byte, v []byte) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(v)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, v...)
	return append(dst, '\r', '\n')
}

func appendBulkString(dst []byte, v string) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(v)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, v...)
	return append(dst, '\r', '\n')
}

func appendNull(dst []byte) []byte { return append(dst, "$-1\r\n"...) }

func appendArrayHeader(dst []byte, n int) []byte {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// appendCommand encodes args as a multibulk request (the AOF's record
// format, and what the tests' clients send).
func appendCommand(dst []byte, args ...[]byte) []byte {
	dst = appendArrayHeader(dst, len(args))
	for _, a := range args {
		dst = appendBulk(dst, a)
	}
	return dst
}
