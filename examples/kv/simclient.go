//go:build !windows

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/sim"
)

// simClient runs on a node of its own in the simulated world and checks
// the server's promise under the fsync policy "always": every write the
// server acknowledged survives any crash. It writes its own keys (no
// other client touches them) with pipelined batches of SET, SET ... EX and
// INCR, and after every (re)connection reads all of them back with one
// MGET before writing again.
//
// What it may read back: for a key, the value of the last acknowledged
// SET, or of a SET sent after it (one the server may have made durable
// without the client seeing the reply); with no acknowledged SET, also
// nothing. For its counter, at least the last acknowledged INCR's result
// and at most the number of INCRs sent.
type simClient struct {
	l      *ioloop.Loop
	server netip.AddrPort
	name   string
	rand   *sim.Rand

	fd                     int
	connectOp, send, recv  ioloop.Completion
	closeOp, backoff       ioloop.Completion
	in, out                []byte
	batch                  []sentRequest // the requests whose replies are awaited, in order
	verifying              bool
	violation              string
	passStarted, verified  time.Time
	next                   int // makes every value distinct
	keys                   []keyModel
	counterKey             string
	incrSent, incrAcked    int64
	acknowledged, requests int
}

// keyModel is what the client knows of one key.
type keyModel struct {
	name  string
	acked string // the last acknowledged value ("" with none: values are never empty)
	// after lists the values sent after acked, not (yet) acknowledged:
	// any of them may be what the server has.
	after []string
}

type sentRequest struct {
	kind  byte // 'S' set, 'I' incr, 'V' the read-back
	key   int
	value string
}

func newSimClient(l *ioloop.Loop, server netip.AddrPort, name string, rand *sim.Rand, nkeys int) *simClient {
	c := &simClient{l: l, server: server, name: name, rand: rand, fd: -1, counterKey: name + ":counter"}
	for i := range nkeys {
		c.keys = append(c.keys, keyModel{name: fmt.Sprintf("%s:k%d", name, i)})
	}
	return c
}

func (c *simClient) start() { c.connect() }

func (c *simClient) connect() {
	fd, err := c.l.TCPSocket(c.server)
	if err != nil {
		c.retry()
		return
	}
	c.fd = fd
	c.in = c.in[:0]
	ioloop.Connect(c.l, &c.connectOp, fd, c.server, c, (*simClient).onConnect)
}

func (c *simClient) onConnect(_ *ioloop.Completion, err error) {
	if err != nil {
		c.drop()
		return
	}
	c.verifying = true
	c.passStarted = c.l.Now()
	c.readBack()
}

// readBack asks for every key and the counter in one MGET.
func (c *simClient) readBack() {
	args := [][]byte{[]byte("MGET")}
	for _, k := range c.keys {
		args = append(args, []byte(k.name))
	}
	args = append(args, []byte(c.counterKey))
	c.out = appendCommand(c.out[:0], args...)
	c.batch = append(c.batch[:0], sentRequest{kind: 'V'})
	c.sendOut()
}

// writeBatch pipelines one to four writes.
func (c *simClient) writeBatch() {
	c.out, c.batch = c.out[:0], c.batch[:0]
	for range 1 + c.rand.Intn(4) {
		if c.rand.Chance(0.2) {
			c.out = appendCommand(c.out, []byte("INCR"), []byte(c.counterKey))
			c.batch = append(c.batch, sentRequest{kind: 'I'})
			c.incrSent++
			continue
		}
		k := c.rand.Intn(len(c.keys))
		c.next++
		value := fmt.Sprintf("%s-%d-%s", c.name, c.next, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"[:c.rand.Intn(32)])
		if c.rand.Chance(0.3) {
			// An expiry far beyond the test: it must survive as the value does.
			c.out = appendCommand(c.out, []byte("SET"), []byte(c.keys[k].name), []byte(value), []byte("EX"), []byte("100000"))
		} else {
			c.out = appendCommand(c.out, []byte("SET"), []byte(c.keys[k].name), []byte(value))
		}
		c.keys[k].after = append(c.keys[k].after, value)
		c.batch = append(c.batch, sentRequest{kind: 'S', key: k, value: value})
	}
	c.requests += len(c.batch)
	c.sendOut()
}

func (c *simClient) sendOut() {
	ioloop.Send(c.l, &c.send, c.fd, c.out, c, (*simClient).onSent)
}

func (c *simClient) onSent(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		c.drop()
		return
	}
	c.awaitReplies()
}

func (c *simClient) awaitReplies() {
	for len(c.batch) > 0 {
		r, n, err := parseReply(c.in)
		if errors.Is(err, errIncomplete) {
			break
		}
		if err != nil {
			c.violation = fmt.Sprintf("%s: unparsable reply %q: %v", c.name, c.in, err)
			return
		}
		c.in = c.in[:copy(c.in, c.in[n:])]
		req := c.batch[0]
		c.batch = c.batch[1:]
		c.onReply(req, r)
		if c.violation != "" {
			return
		}
	}
	if len(c.batch) == 0 {
		if c.verifying {
			c.verifying = false
			c.verified = c.passStarted
		}
		c.writeBatch()
		return
	}
	if cap(c.in)-len(c.in) < 4096 {
		c.in = slices.Grow(c.in, 8192)
	}
	ioloop.Recv(c.l, &c.recv, c.fd, c.in[len(c.in):cap(c.in)], c, (*simClient).onRecv)
}

func (c *simClient) onRecv(_ *ioloop.Completion, n int, err error) {
	if err != nil {
		c.drop()
		return
	}
	c.in = c.in[:len(c.in)+n]
	c.awaitReplies()
}

func (c *simClient) onReply(req sentRequest, r reply) {
	if r.kind == '-' {
		return // not acknowledged (the server's file failed): nothing promised
	}
	switch req.kind {
	case 'S':
		if r.kind != '+' || r.text != "OK" {
			c.violation = fmt.Sprintf("%s: SET %s answered %v", c.name, c.keys[req.key].name, r)
			return
		}
		k := &c.keys[req.key]
		i := slices.Index(k.after, req.value)
		if i < 0 {
			c.violation = fmt.Sprintf("%s: SET %s %s acknowledged twice or out of order", c.name, k.name, req.value)
			return
		}
		k.acked, k.after = req.value, k.after[i+1:]
		c.acknowledged++
	case 'I':
		if r.kind != ':' || r.n <= c.incrAcked || r.n > c.incrSent {
			c.violation = fmt.Sprintf("%s: INCR answered %v (acknowledged %d before, %d sent)", c.name, r, c.incrAcked, c.incrSent)
			return
		}
		c.incrAcked = r.n
		c.acknowledged++
	case 'V':
		c.check(r)
	}
}

// check compares a read-back with what the server promised.
func (c *simClient) check(r reply) {
	if r.kind != '*' || len(r.elems) != len(c.keys)+1 {
		c.violation = fmt.Sprintf("%s: MGET answered %v", c.name, r)
		return
	}
	for i := range c.keys {
		k := &c.keys[i]
		got := r.elems[i]
		switch {
		case got.null && k.acked != "":
			c.violation = fmt.Sprintf("%s: acknowledged SET %s %s is gone after a crash", c.name, k.name, k.acked)
		case got.null:
		case got.text == k.acked:
		case slices.Contains(k.after, got.text):
		case k.acked != "":
			c.violation = fmt.Sprintf("%s: %s is %q, want the acknowledged %q or a later write", c.name, k.name, got.text, k.acked)
		default:
			c.violation = fmt.Sprintf("%s: %s is %q, which was never written", c.name, k.name, got.text)
		}
		if c.violation != "" {
			return
		}
	}
	counter := r.elems[len(c.keys)]
	var n int64
	if !counter.null {
		v, err := strconv.ParseInt(counter.text, 10, 64)
		if err != nil {
			c.violation = fmt.Sprintf("%s: counter is %q", c.name, counter.text)
			return
		}
		n = v
	}
	if n < c.incrAcked || n > c.incrSent {
		c.violation = fmt.Sprintf("%s: counter is %d after a crash, want %d (acknowledged) to %d (sent)", c.name, n, c.incrAcked, c.incrSent)
	}
}

// drop closes the connection and reconnects after a pause.
func (c *simClient) drop() {
	if c.fd >= 0 {
		ioloop.Close(c.l, &c.closeOp, c.fd, c, func(*simClient, *ioloop.Completion, error) {})
		c.fd = -1
	}
	c.batch = c.batch[:0]
	c.retry()
}

func (c *simClient) retry() {
	if c.backoff.Pending() || c.violation != "" {
		return
	}
	ioloop.Timeout(c.l, &c.backoff, 20*time.Millisecond, c, func(c *simClient, _ *ioloop.Completion, _ error) { c.connect() })
}

// reply is one decoded RESP2 reply.
type reply struct {
	kind  byte // '+', '-', ':', '$', '*'
	text  string
	n     int64
	null  bool
	elems []reply
}

func (r reply) String() string {
	switch {
	case r.null:
		return "(nil)"
	case r.kind == ':':
		return strconv.FormatInt(r.n, 10)
	case r.kind == '*':
		return fmt.Sprintf("%v", r.elems)
	}
	return string(r.kind) + strconv.Quote(r.text)
}

// parseReply decodes the first reply in buf and returns its length; err
// is errIncomplete if buf holds only part of it.
func parseReply(buf []byte) (reply, int, error) {
	if len(buf) == 0 {
		return reply{}, 0, errIncomplete
	}
	end := -1
	for i := 1; i+1 < len(buf); i++ {
		if buf[i] == '\r' && buf[i+1] == '\n' {
			end = i
			break
		}
	}
	if end < 0 {
		return reply{}, 0, errIncomplete
	}
	line := string(buf[1:end])
	pos := end + 2
	r := reply{kind: buf[0]}
	switch buf[0] {
	case '+', '-':
		r.text = line
		return r, pos, nil
	case ':', '$', '*':
		v, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			return r, 0, err
		}
		r.n = v
	default:
		return r, 0, fmt.Errorf("unknown reply type %q", buf[0])
	}
	switch {
	case buf[0] == ':':
		return r, pos, nil
	case r.n < 0:
		r.null = true
		return r, pos, nil
	case buf[0] == '$':
		if len(buf) < pos+int(r.n)+2 {
			return r, 0, errIncomplete
		}
		r.text = string(buf[pos : pos+int(r.n)])
		return r, pos + int(r.n) + 2, nil
	}
	for range r.n {
		e, n, err := parseReply(buf[pos:])
		if err != nil {
			return r, 0, err
		}
		r.elems = append(r.elems, e)
		pos += n
	}
	return r, pos, nil
}
