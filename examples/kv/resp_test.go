//go:build !windows

package main

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMultibulkAndInline(t *testing.T) {
	p := parser{inline: true}
	cases := []struct {
		in   string
		args []string
		n    int
	}{
		{"*1\r\n$4\r\nPING\r\n", []string{"PING"}, 14},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", []string{"SET", "k", ""}, 26},
		{"*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n", []string{"ECHO", "a\r\nb"}, 24},
		{"PING\r\n", []string{"PING"}, 6},
		{"  set  k\tv \n", []string{"set", "k", "v"}, 12},
		{"\r\n", nil, 2},
		{"*0\r\n", nil, 4},
	}
	for _, c := range cases {
		args, n, err := p.parse([]byte(c.in + "*1\r\n")) // a following partial request is left alone
		if err != nil || n != c.n || len(args) != len(c.args) {
			t.Fatalf("%q: %d args, n %d, %v; want %d args, n %d", c.in, len(args), n, err, len(c.args), c.n)
		}
		for i := range args {
			if string(args[i]) != c.args[i] {
				t.Fatalf("%q: arg %d = %q, want %q", c.in, i, args[i], c.args[i])
			}
		}
	}
}

// Every proper prefix of a request is incomplete, never an error or a
// request: a frame split anywhere by the network is waited for.
func TestParseEveryPrefixIsIncomplete(t *testing.T) {
	reqs := []string{"*3\r\n$3\r\nSET\r\n$10\r\n0123456789\r\n$2\r\nab\r\n", "GET key\r\n", "*1\r\n$12\r\n" + strings.Repeat("x", 12) + "\r\n"}
	p := parser{inline: true}
	for _, req := range reqs {
		for i := 0; i < len(req); i++ {
			if _, _, err := p.parse([]byte(req[:i])); err != errIncomplete {
				t.Fatalf("%q cut at %d: %v, want incomplete", req, i, err)
			}
		}
		if _, n, err := p.parse([]byte(req)); err != nil || n != len(req) {
			t.Fatalf("%q whole: n %d, %v", req, n, err)
		}
	}
}

func TestParseProtocolErrors(t *testing.T) {
	for _, in := range []string{"*1\r\n+PING\r\n", "*x\r\n", "*1\r\n$-3\r\n", "*1\r\n$3\r\nabcd\r\n", "*1\n", "*99999999999\r\n", "*1\r\n$999999999\r\n"} {
		p := parser{inline: true}
		_, _, err := p.parse([]byte(in))
		var pe errProtocol
		if !errors.As(err, &pe) {
			t.Fatalf("%q: %v, want a protocol error", in, err)
		}
	}
	p := parser{} // the AOF's: no inline commands, so zeros are not a request
	if _, _, err := p.parse(make([]byte, 16)); err == nil || err == errIncomplete {
		t.Fatalf("zeros parsed as %v", err)
	}
}

func TestParseInt(t *testing.T) {
	good := map[string]int64{"0": 0, "1": 1, "-1": -1, "9223372036854775807": 1<<63 - 1, "-9223372036854775808": -1 << 63}
	for s, want := range good {
		if v, ok := parseInt([]byte(s)); !ok || v != want {
			t.Fatalf("parseInt(%q) = %d, %v", s, v, ok)
		}
	}
	for _, s := range []string{"", "-", "+1", "01", " 1", "1 ", "9223372036854775808", "-9223372036854775809", "99999999999999999999", "1.5", "-0"} {
		if _, ok := parseInt([]byte(s)); ok {
			t.Fatalf("parseInt(%q) accepted", s)
		}
	}
}
