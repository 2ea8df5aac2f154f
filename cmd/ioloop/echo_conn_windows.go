package main

import (
	"errors"
	"io"
	"net/netip"

	"github.com/ioloop/ioloop"
)

// serverConn is `ioloop echo -server conn`: the echo on package conn.
const serverConn = "conn"

// errConnUnixOnly is `-server conn` on Windows.
var errConnUnixOnly = errors.New("-server conn: package conn is Unix-only for now (docs/ARCHITECTURE.md, Windows); use -server ioloop")

// startConnEcho fails on Windows: package conn sets its socket options
// with Unix calls and has no Windows build yet.
func startConnEcho(netip.AddrPort, ioloop.Options, int, int, io.Writer) (loopEcho, netip.AddrPort, error) {
	return loopEcho{}, netip.AddrPort{}, errConnUnixOnly
}
