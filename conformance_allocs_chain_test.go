//go:build linux || windows

package ioloop

import (
	"testing"
	"time"
)

// No allocation per chain (chain.go): a chain of a Write and an Fdatasync,
// and a Recv bounded by a LinkTimeout, in steady state on every backend.

func TestAllocsChainWriteSync(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		_, fd := tempFile(t, l, nil)
		s := &allocState{loop: l}
		record := []byte("record\n")
		wantNoAllocs(t, s, 200, func() {
			l.BeginChain()
			Write(l, &s.c, fd, record, 0, s, (*allocState).onCount)
			Fdatasync(l, &s.c2, fd, s, (*allocState).onErr)
			l.EndChain()
			s.wait(2)
		})
	})
}

func TestAllocsChainLinkTimeout(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		client, server := tcpPair(t, l, loopback4)
		s := &allocState{loop: l}
		var send Completion
		out := []byte("r")
		in := make([]byte, 16)
		wantNoAllocs(t, s, 200, func() {
			// The Recv finds data: its LinkTimeout ends canceled (counted
			// in s.canceled, not as an error).
			Send(l, &send, client, out, s, (*allocState).onCount)
			s.wait(1)
			l.BeginChain()
			Recv(l, &s.c, server, in, s, (*allocState).onCount)
			LinkTimeout(l, &s.c2, time.Hour, s, (*allocState).onErr)
			l.EndChain()
			s.wait(2)
		})
	})
}
