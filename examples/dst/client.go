//go:build !windows

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
)

// walClient appends records and checks the server's promise: every record
// it acknowledged can be read back, unchanged, after any crash. After each
// (re)connection it first reads back every acknowledged record, then goes
// on appending. On any error it closes the connection, waits, reconnects.
type walClient struct {
	l      *ioloop.Loop
	server netip.AddrPort

	fd      int
	op      ioloop.Completion
	recv    ioloop.Completion
	close   ioloop.Completion
	backoff ioloop.Completion

	// acked lists acknowledged records in order: (sequence, payload).
	acked     []ackedRecord
	verifyAt  int // index into acked of the next record to read back
	verifying bool
	next      int // counter that makes payloads distinct
	payload   []byte
	out, in   []byte
	reply     []byte

	violation string
	// passStarted is when the current read-back pass began (at a
	// connection), verifiedSince when the latest complete pass began: the
	// driver waits for a complete pass that began after the last restart.
	passStarted   time.Time
	verifiedSince time.Time
}

type ackedRecord struct {
	seq     uint64
	payload []byte
}

func newWALClient(l *ioloop.Loop, server netip.AddrPort) *walClient {
	return &walClient{l: l, server: server, fd: -1}
}

func (c *walClient) start() { c.connect() }

func (c *walClient) connect() {
	fd, err := c.l.TCPSocket(c.server)
	if err != nil {
		c.retry()
		return
	}
	c.fd = fd
	c.in = c.in[:0]
	ioloop.Connect(c.l, &c.op, fd, c.server, c, (*walClient).onConnect)
}

func (c *walClient) onConnect(_ *ioloop.Completion, err error) {
	if err != nil {
		c.drop()
		return
	}
	c.verifying, c.verifyAt = true, 0
	c.passStarted = c.l.Now()
	c.step()
}

// step sends the next request: a read-back while verifying, else an append.
func (c *walClient) step() {
	if c.violation != "" {
		return
	}
	if c.verifying && c.verifyAt == len(c.acked) {
		c.verifying = false
		c.verifiedSince = c.passStarted
	}
	if c.verifying {
		seq := binary.LittleEndian.AppendUint64(nil, c.acked[c.verifyAt].seq)
		c.out = appendFrame(c.out[:0], 'G', seq)
	} else {
		c.next++
		size := 16 + c.next%300
		c.payload = fmt.Appendf(c.payload[:0], "record %d ", c.next)
		for len(c.payload) < size {
			c.payload = append(c.payload, byte('a'+c.next%26))
		}
		c.out = appendFrame(c.out[:0], 'A', c.payload)
	}
	ioloop.Send(c.l, &c.op, c.fd, c.out, c, (*walClient).onSent)
}

func (c *walClient) onSent(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		c.drop()
		return
	}
	c.awaitReply()
}

func (c *walClient) awaitReply() {
	if frame, ok := nextFrame(c.in); ok {
		kind := frame[0]
		c.reply = append(c.reply[:0], frame[1:]...)
		c.in = c.in[:copy(c.in, c.in[4+len(frame):])]
		c.onReply(kind, c.reply)
		return
	}
	c.in = withRoom(c.in, 4096)
	ioloop.Recv(c.l, &c.recv, c.fd, c.in[len(c.in):cap(c.in)], c, (*walClient).onRecv)
}

func (c *walClient) onRecv(_ *ioloop.Completion, n int, err error) {
	if err != nil {
		c.drop()
		return
	}
	c.in = c.in[:len(c.in)+n]
	c.awaitReply()
}

func (c *walClient) onReply(kind byte, body []byte) {
	switch {
	case c.verifying:
		want := c.acked[c.verifyAt]
		switch {
		case kind == 'N':
			c.violation = fmt.Sprintf("acknowledged record %d is gone after a crash", want.seq)
		case kind != 'V':
			c.violation = fmt.Sprintf("read-back of record %d got reply %q", want.seq, kind)
		case !bytes.Equal(body, want.payload):
			c.violation = fmt.Sprintf("acknowledged record %d changed: %q, want %q", want.seq, body, want.payload)
		}
		c.verifyAt++
	case kind == 'K' && len(body) == 8:
		seq := binary.LittleEndian.Uint64(body)
		if n := len(c.acked); n > 0 && seq <= c.acked[n-1].seq {
			c.violation = fmt.Sprintf("record acknowledged as %d after record %d", seq, c.acked[n-1].seq)
		}
		c.acked = append(c.acked, ackedRecord{seq: seq, payload: append([]byte(nil), c.payload...)})
	case kind == 'E':
		// Not acknowledged: the record may or may not be in the log.
	default:
		c.violation = fmt.Sprintf("unexpected reply %q to an append", kind)
	}
	c.step()
}

// drop closes the connection and reconnects after a pause.
func (c *walClient) drop() {
	if c.fd >= 0 {
		ioloop.Close(c.l, &c.close, c.fd, c, func(*walClient, *ioloop.Completion, error) {})
		c.fd = -1
	}
	c.retry()
}

func (c *walClient) retry() {
	if c.backoff.Pending() {
		return
	}
	ioloop.Timeout(c.l, &c.backoff, 20*time.Millisecond, c, func(c *walClient, _ *ioloop.Completion, _ error) { c.connect() })
}
