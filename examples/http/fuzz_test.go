//go:build !windows

package main

import (
	"strings"
	"testing"
)

// fuzzSeeds are requests of every shape the parser knows, for both fuzz
// targets' corpora.
var fuzzSeeds = []string{
	"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
	"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: v\r\n\r\n",
	"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
	"GET http://h/chunked?n=3 HTTP/1.1\nHost: h\n\n",
	"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	"\r\nHEAD /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
}

// FuzzParse checks the parser on arbitrary input: it never panics or
// reads past its input; a prefix of the input is either incomplete or
// parses as the whole does, so a request split across reads is parsed as
// if it came at once; and a request it accepts, Go's net/http accepts
// too, with the same method, target, body and keep-alive verdict.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 {
			return // beyond every limit below; and the prefix check is quadratic
		}
		lim := limits{headerBytes: 512, bodyBytes: 256}
		whole := newServer(lim)
		n, st := whole.parseOne(in)
		if st == parsed && (n <= 0 || n > len(in)) {
			t.Fatalf("parsed %d bytes of %d", n, len(in))
		}
		prefix := newServer(lim)
		for k := range len(in) {
			pn, pst := prefix.parseOne(in[:k])
			switch {
			case pst == needMore:
				if st == parsed && k >= n {
					t.Fatalf("prefix of %d bytes needs more, but the request ends at %d", k, n)
				}
			case pst != st:
				t.Fatalf("prefix of %d bytes: status %d, the whole input: %d", k, pst, st)
			case pst == parsed && pn != n:
				t.Fatalf("prefix of %d bytes: request of %d bytes, the whole input: %d", k, pn, n)
			}
		}
		if st == parsed {
			checkAgainstNetHTTP(t, in)
		}
	})
}

// FuzzServerSplit checks the server on arbitrary input cut in two at an
// arbitrary point, as two reads would deliver it: the responses are the
// same as for the input in one piece.
func FuzzServerSplit(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint16(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		k := int(cut) % (len(in) + 1)
		lim := limits{headerBytes: 512, bodyBytes: 256}
		one := newTestServer(lim)
		oneOut, oneClose := feed(one, in)
		two := newTestServer(lim)
		twoOut, twoClose := feed(two, in[:k], in[k:])
		if oneClose != twoClose || stripContinue(oneOut) != stripContinue(twoOut) {
			t.Fatalf("cut at %d of %d:\nin one piece (close %v):\n%q\nin two (close %v):\n%q", k, len(in), oneClose, oneOut, twoClose, twoOut)
		}
	})
}

// stripContinue removes interim 100 responses, which depend on where the
// input was cut (they go out when a header section has arrived without
// its body).
func stripContinue(out string) string {
	return strings.ReplaceAll(out, "HTTP/1.1 100 Continue\r\n\r\n", "")
}

// nextLineBytewise is nextLine as a plain loop over the bytes: the
// reference the vectorized one is checked against.
func nextLineBytewise(buf []byte, pos, limit int) (line []byte, next int, status int) {
	end := min(len(buf), limit)
	for i := pos; i < end; i++ {
		switch buf[i] {
		case '\n':
			if i > pos && buf[i-1] == '\r' {
				return buf[pos : i-1], i + 1, parsed
			}
			return buf[pos:i], i + 1, parsed
		case '\r':
			if i+1 < len(buf) && buf[i+1] != '\n' {
				return nil, 0, 400
			}
		}
	}
	if len(buf) >= limit {
		return nil, 0, 431
	}
	return nil, 0, needMore
}

// FuzzNextLine checks nextLine against nextLineBytewise.
func FuzzNextLine(f *testing.F) {
	for _, s := range []string{"a\r\nb", "a\rb\n", "abc", "ab\r", "\r\n", "\n", "x\r\r\n", "abcdef\r"} {
		f.Add([]byte(s), uint8(0), uint8(4))
	}
	f.Fuzz(func(t *testing.T, buf []byte, pos, limit uint8) {
		p := min(int(pos), len(buf))
		l1, n1, s1 := nextLine(buf, p, int(limit))
		l2, n2, s2 := nextLineBytewise(buf, p, int(limit))
		if string(l1) != string(l2) || n1 != n2 || s1 != s2 {
			t.Fatalf("nextLine(%q, %d, %d) = %q, %d, %d; bytewise: %q, %d, %d", buf, p, limit, l1, n1, s1, l2, n2, s2)
		}
	})
}
