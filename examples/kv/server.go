//go:build !windows

package main

import (
	"errors"
	"time"

	"github.com/ioloop/ioloop"
)

// server is the key-value server's state on one loop: the keyspace, the
// append-only file, the expiry timer and the sessions. Everything runs
// on the loop's goroutine. The network side (listener, connections) is in
// net.go; this file executes requests.
type server struct {
	l     *ioloop.Loop
	store *store
	aof   *aof // nil: no append-only file
	// buggy acknowledges writes before the append-only file has made
	// them durable (fsync "always" only): the simulator's test must catch
	// it losing acknowledged writes.
	buggy bool
	// replaying is set while the append-only file is replayed: nothing is
	// logged again.
	replaying bool

	// The expiry timer: one Timeout armed for the earliest expiry time in
	// the store's heap (armedMs), canceled and re-armed when an earlier
	// one arrives.
	expiryTimer  ioloop.Completion
	expiryCancel ioloop.Completion
	armedMs      int64 // 0: not armed
	canceling    bool
	stopped      bool // shutting down: no more timers
	// shuttingDown is set (on the loop, by a posted function) when a
	// signal asks the server to stop.
	shuttingDown bool

	upper [16]byte // scratch: the request's command name, upper-cased

	// failed is why the server stopped itself (its append-only file can no
	// longer be trusted); onFail is told once.
	failed string
	onFail func(reason string)
}

func newServer(l *ioloop.Loop) *server {
	s := &server{l: l}
	s.store = newStore(s.nowMs)
	return s
}

// nowMs is the loop's clock in Unix milliseconds (virtual time on the
// simulator).
func (s *server) nowMs() int64 { return s.l.Now().UnixMilli() }

// session is one client's state: the replies waiting to be sent, and, with
// the fsync policy "always", how many of them wait for the append-only
// file. The transport (net.go) owns the connection and sends what
// deliverable returns.
type session struct {
	srv *server
	out []byte
	// heldFrom: out[heldFrom:] is held until the append-only file is
	// durable up to waitOffset, because it starts with the reply to a
	// write that is not durable yet (the replies after it wait too, to
	// keep their order). -1: nothing is held.
	heldFrom   int
	waitOffset int64
	waiting    bool // in the aof's list of waiters
	quit       bool // QUIT: close after the replies
	closed     bool
	// release is called when held replies become deliverable outside of
	// the session's own input processing (the aof's callback).
	release func(sess *session)
}

func (s *server) newSession() *session { return &session{srv: s, heldFrom: -1} }

// deliverable returns the replies that may be sent now.
func (sess *session) deliverable() []byte {
	if sess.heldFrom >= 0 {
		return sess.out[:sess.heldFrom]
	}
	return sess.out
}

// sent drops the first n bytes of the output (sent by the transport).
func (sess *session) sent(n int) {
	if n == 0 {
		return
	}
	rest := copy(sess.out, sess.out[n:])
	sess.out = sess.out[:rest]
	if sess.heldFrom >= 0 {
		sess.heldFrom -= n
	}
}

// execute runs every complete request in input and returns how many
// bytes it consumed, or an error for a protocol error (the transport
// sends the replies so far, then an error reply, and closes).
func (s *server) execute(sess *session, p *parser, input []byte) (int, error) {
	consumed := 0
	for consumed < len(input) && !sess.quit {
		args, n, err := p.parse(input[consumed:])
		if err == errIncomplete {
			break
		}
		if err != nil {
			sess.out = appendError(sess.out, "ERR "+err.Error())
			return consumed, err
		}
		consumed += n
		if len(args) > 0 {
			s.dispatch(sess, args)
		}
	}
	return consumed, nil
}

// dispatch runs one request.
func (s *server) dispatch(sess *session, args [][]byte) {
	name := args[0]
	var cmd *command
	if len(name) <= len(s.upper) {
		up := s.upper[:len(name)]
		for i, c := range name {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			up[i] = c
		}
		cmd = commands[string(up)]
	}
	if cmd == nil {
		sess.out = appendError(sess.out, unknownCommand(args))
		return
	}
	if (cmd.arity > 0 && len(args) != cmd.arity) || (cmd.arity < 0 && len(args) < -cmd.arity) {
		sess.out = appendError(sess.out, "ERR wrong number of arguments for '"+cmd.name+"' command")
		return
	}
	if s.failed != "" && s.aof != nil {
		sess.out = appendError(sess.out, "ERR the append-only file failed: "+s.failed)
		return
	}
	before := len(sess.out)
	offset := s.aof.end()
	cmd.handler(s, sess, args)
	if s.aof != nil && s.aof.end() != offset && s.aof.policy == fsyncAlways && !s.buggy && !s.replaying {
		// The reply acknowledges a write: it waits for the file.
		if sess.heldFrom < 0 {
			sess.heldFrom = before
		}
		sess.waitOffset = s.aof.end()
		s.aof.await(sess)
	}
}

// unknownCommand is Redis's text for a command it does not know.
func unknownCommand(args [][]byte) string {
	msg := "ERR unknown command '" + string(args[0]) + "', with args beginning with: "
	for _, a := range args[1:min(len(args), 4)] {
		msg += "'" + string(a) + "' "
	}
	return msg
}

// logWrite appends a write to the append-only file, if there is one.
func (s *server) logWrite(_ *session, args ...[]byte) {
	if s.aof == nil || s.replaying {
		return
	}
	s.aof.append(args)
}

// armExpiry makes sure the expiry timer fires at the earliest expiry.
func (s *server) armExpiry() {
	next, ok := s.store.nextExpiry()
	if !ok || s.stopped || s.replaying {
		return
	}
	switch {
	case s.armedMs == 0:
		s.armedMs = next
		ioloop.TimeoutAt(s.l, &s.expiryTimer, time.UnixMilli(next), s, (*server).onExpiryTimer)
	case next < s.armedMs && !s.canceling:
		s.canceling = true
		ioloop.Cancel(s.l, &s.expiryCancel, &s.expiryTimer, s, func(s *server, _ *ioloop.Completion, _ error) {})
	}
}

func (s *server) onExpiryTimer(_ *ioloop.Completion, err error) {
	s.armedMs = 0
	canceled := s.canceling
	s.canceling = false
	if err != nil && !(canceled && errors.Is(err, ioloop.ErrCanceled)) {
		return // the loop is closing
	}
	s.store.expireDue(s.nowMs())
	s.armExpiry()
}

// fail stops the server: its append-only file cannot be trusted.
func (s *server) fail(reason string) {
	if s.failed != "" {
		return
	}
	s.failed = reason
	if s.onFail != nil {
		s.onFail(reason)
	}
}

// openAOF opens the append-only file at path, replays it into the store,
// and calls ready once the server may serve (or fails the server).
func (s *server) openAOF(path string, policy fsyncPolicy, ready func()) {
	s.replaying = true
	replayed := s.newSession() // its replies are dropped
	replay := func(args [][]byte) {
		s.dispatch(replayed, args)
		replayed.out = replayed.out[:0]
	}
	s.aof = openAOF(s.l, path, policy, replay, func() {
		s.replaying = false
		s.armExpiry()
		ready()
	}, s.fail)
}

// stop ends the expiry timer (shutdown).
func (s *server) stop() {
	s.stopped = true
	if s.armedMs != 0 && !s.canceling {
		s.canceling = true
		ioloop.Cancel(s.l, &s.expiryCancel, &s.expiryTimer, s, func(s *server, _ *ioloop.Completion, _ error) {})
	}
}

// closeWhenIdle closes the append-only file once its write in flight has
// finished, then calls done.
func (s *server) closeWhenIdle(done func()) {
	if s.aof == nil {
		done()
		return
	}
	s.aof.closeWhenIdle(done)
}
