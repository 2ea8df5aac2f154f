//go:build !windows

package main

import (
	"bytes"
	"math"
	"strconv"
)

// The command table. Each command has Redis's arity convention (n > 0:
// exactly n words including the name; n < 0: at least -n) and a handler
// that appends its reply to the session's output. Handlers that change
// the keyspace log what they did to the append-only file through
// server.logWrite, in a form whose replay gives the same state (relative
// expiry times become absolute ones).
type command struct {
	name    string // lower case, as Redis names it in errors
	arity   int
	handler func(s *server, sess *session, args [][]byte)
}

// commands maps an upper-case command name to its entry; dispatch upper-
// cases the request's name into a scratch buffer and looks it up with
// m[string(b)], which does not allocate.
var commands = map[string]*command{}

func init() {
	for _, c := range []*command{
		{"ping", -1, cmdPing},
		{"echo", 2, cmdEcho},
		{"get", 2, cmdGet},
		{"set", -3, cmdSet},
		{"del", -2, cmdDel},
		{"exists", -2, cmdExists},
		{"incr", 2, cmdIncr},
		{"decr", 2, cmdDecr},
		{"mget", -2, cmdMget},
		{"mset", -3, cmdMset},
		{"expire", 3, cmdExpire},
		{"pexpire", 3, cmdPexpire},
		{"pexpireat", 3, cmdPexpireat},
		{"ttl", 2, cmdTTL},
		{"pttl", 2, cmdPTTL},
		{"dbsize", 1, cmdDBSize},
		{"flushall", -1, cmdFlushAll},
		{"flushdb", -1, cmdFlushAll},
		{"select", 2, cmdSelect},
		{"config", -2, cmdConfig},
		{"command", -1, cmdCommand},
		{"quit", -1, cmdQuit},
	} {
		commands[string(bytes.ToUpper([]byte(c.name)))] = c
	}
}

// Redis's error texts.
const (
	errSyntax     = "ERR syntax error"
	errNotInteger = "ERR value is not an integer or out of range"
	errOverflow   = "ERR increment or decrement would overflow"
)

func cmdPing(_ *server, sess *session, args [][]byte) {
	switch len(args) {
	case 1:
		sess.out = append(sess.out, "+PONG\r\n"...)
	case 2:
		sess.out = appendBulk(sess.out, args[1])
	default:
		sess.out = appendError(sess.out, "ERR wrong number of arguments for 'ping' command")
	}
}

func cmdEcho(_ *server, sess *session, args [][]byte) {
	sess.out = appendBulk(sess.out, args[1])
}

func cmdGet(s *server, sess *session, args [][]byte) {
	if e := s.store.lookup(args[1]); e != nil {
		sess.out = appendBulk(sess.out, e.val)
		return
	}
	sess.out = appendNull(sess.out)
}

// SET key value [NX|XX] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL] [GET]
func cmdSet(s *server, sess *session, args [][]byte) {
	var nx, xx, keepTTL, get bool
	var expireMs int64
	hasExpiry := false
	for i := 3; i < len(args); i++ {
		opt := args[i]
		switch {
		case equalFold(opt, "NX") && !xx:
			nx = true
		case equalFold(opt, "XX") && !nx:
			xx = true
		case equalFold(opt, "KEEPTTL") && !hasExpiry:
			keepTTL = true
		case equalFold(opt, "GET"):
			get = true
		case (equalFold(opt, "EX") || equalFold(opt, "PX") || equalFold(opt, "EXAT") || equalFold(opt, "PXAT")) &&
			!hasExpiry && !keepTTL && i+1 < len(args):
			v, ok := parseInt(args[i+1])
			if !ok {
				sess.out = appendError(sess.out, errNotInteger)
				return
			}
			ms, ok := expiryMs(s.nowMs(), opt, v)
			if !ok {
				sess.out = appendError(sess.out, "ERR invalid expire time in 'set' command")
				return
			}
			expireMs, hasExpiry = ms, true
			i++
		default:
			sess.out = appendError(sess.out, errSyntax)
			return
		}
	}
	key, val := args[1], args[2]
	old := s.store.lookup(key)
	if get {
		if old != nil {
			sess.out = appendBulk(sess.out, old.val)
		} else {
			sess.out = appendNull(sess.out)
		}
	}
	if (nx && old != nil) || (xx && old == nil) {
		if !get {
			sess.out = appendNull(sess.out)
		}
		return
	}
	if keepTTL && old != nil {
		expireMs = old.expireMs
	}
	if hasExpiry && expireMs <= s.nowMs() {
		// Already past (EXAT/PXAT, or a replayed record): the key is gone.
		if old != nil {
			s.store.remove(old)
		}
		s.logWrite(sess, bytesDel, key)
	} else {
		s.store.set(key, val, expireMs)
		if expireMs != 0 {
			var at [20]byte
			s.logWrite(sess, bytesSet, key, val, bytesPXAT, strconv.AppendInt(at[:0], expireMs, 10))
			s.armExpiry()
		} else {
			s.logWrite(sess, bytesSet, key, val)
		}
	}
	if !get {
		sess.out = append(sess.out, "+OK\r\n"...)
	}
}

// expiryMs turns an EX/PX/EXAT/PXAT argument into Unix milliseconds.
func expiryMs(nowMs int64, opt []byte, v int64) (int64, bool) {
	if v <= 0 {
		return 0, false
	}
	switch {
	case equalFold(opt, "EX"):
		if v > (math.MaxInt64-nowMs)/1000 {
			return 0, false
		}
		return nowMs + v*1000, true
	case equalFold(opt, "PX"):
		if v > math.MaxInt64-nowMs {
			return 0, false
		}
		return nowMs + v, true
	case equalFold(opt, "EXAT"):
		if v > math.MaxInt64/1000 {
			return 0, false
		}
		return v * 1000, true
	default: // PXAT
		return v, true
	}
}

// Words the handlers log.
var (
	bytesSet       = []byte("SET")
	bytesDel       = []byte("DEL")
	bytesPXAT      = []byte("PXAT")
	bytesPexpireat = []byte("PEXPIREAT")
	bytesFlushAll  = []byte("FLUSHALL")
)

func cmdDel(s *server, sess *session, args [][]byte) {
	n := 0
	for _, key := range args[1:] {
		if e := s.store.lookup(key); e != nil {
			s.store.remove(e)
			s.logWrite(sess, bytesDel, key)
			n++
		}
	}
	sess.out = appendInt(sess.out, int64(n))
}

func cmdExists(s *server, sess *session, args [][]byte) {
	n := 0
	for _, key := range args[1:] {
		if s.store.lookup(key) != nil {
			n++
		}
	}
	sess.out = appendInt(sess.out, int64(n))
}

func cmdIncr(s *server, sess *session, args [][]byte) { incrBy(s, sess, args, 1) }
func cmdDecr(s *server, sess *session, args [][]byte) { incrBy(s, sess, args, -1) }

// incrBy adds delta to the integer stored at args[1] (0 if missing),
// keeping its expiry, and logs the resulting value as a SET ... KEEPTTL.
func incrBy(s *server, sess *session, args [][]byte, delta int64) {
	key := args[1]
	var cur int64
	e := s.store.lookup(key)
	if e != nil {
		v, ok := parseInt(e.val)
		if !ok {
			sess.out = appendError(sess.out, errNotInteger)
			return
		}
		cur = v
	}
	if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
		sess.out = appendError(sess.out, errOverflow)
		return
	}
	cur += delta
	var num [20]byte
	val := strconv.AppendInt(num[:0], cur, 10)
	if e != nil {
		e.val = append(e.val[:0], val...)
		s.logWrite(sess, bytesSet, key, val, bytesKeepTTL)
	} else {
		s.store.set(key, val, 0)
		s.logWrite(sess, bytesSet, key, val)
	}
	sess.out = appendInt(sess.out, cur)
}

var bytesKeepTTL = []byte("KEEPTTL")

func cmdMget(s *server, sess *session, args [][]byte) {
	sess.out = appendArrayHeader(sess.out, len(args)-1)
	for _, key := range args[1:] {
		if e := s.store.lookup(key); e != nil {
			sess.out = appendBulk(sess.out, e.val)
		} else {
			sess.out = appendNull(sess.out)
		}
	}
}

func cmdMset(s *server, sess *session, args [][]byte) {
	if len(args)%2 != 1 {
		sess.out = appendError(sess.out, "ERR wrong number of arguments for 'mset' command")
		return
	}
	for i := 1; i < len(args); i += 2 {
		s.store.set(args[i], args[i+1], 0)
	}
	s.logWrite(sess, args...)
	sess.out = append(sess.out, "+OK\r\n"...)
}

func cmdExpire(s *server, sess *session, args [][]byte)  { expire(s, sess, args, 1000, false) }
func cmdPexpire(s *server, sess *session, args [][]byte) { expire(s, sess, args, 1, false) }
func cmdPexpireat(s *server, sess *session, args [][]byte) {
	expire(s, sess, args, 1, true)
}

// expire sets args[1]'s expiry to args[2] times unitMs from now (or, with
// absolute, at args[2] Unix milliseconds); a time not in the future
// deletes the key, as Redis does.
func expire(s *server, sess *session, args [][]byte, unitMs int64, absolute bool) {
	v, ok := parseInt(args[2])
	if !ok {
		sess.out = appendError(sess.out, errNotInteger)
		return
	}
	now := s.nowMs()
	at := v
	if !absolute {
		if v > 0 && v > (math.MaxInt64-now)/unitMs || v < 0 && v < (math.MinInt64+now)/unitMs {
			sess.out = appendError(sess.out, "ERR invalid expire time in '"+commandName(args[0])+"' command")
			return
		}
		at = now + v*unitMs
	}
	e := s.store.lookup(args[1])
	if e == nil {
		sess.out = appendInt(sess.out, 0)
		return
	}
	if at <= now {
		s.store.remove(e)
		s.logWrite(sess, bytesDel, args[1])
	} else {
		s.store.setExpiry(e, at)
		var num [20]byte
		s.logWrite(sess, bytesPexpireat, args[1], strconv.AppendInt(num[:0], at, 10))
		s.armExpiry()
	}
	sess.out = appendInt(sess.out, 1)
}

func cmdTTL(s *server, sess *session, args [][]byte)  { ttl(s, sess, args, 1000) }
func cmdPTTL(s *server, sess *session, args [][]byte) { ttl(s, sess, args, 1) }

// ttl replies -2 for a missing key, -1 for one without expiry, else the
// time left in units of unitMs, rounded as Redis rounds it.
func ttl(s *server, sess *session, args [][]byte, unitMs int64) {
	e := s.store.lookup(args[1])
	switch {
	case e == nil:
		sess.out = appendInt(sess.out, -2)
	case e.expireMs == 0:
		sess.out = appendInt(sess.out, -1)
	default:
		left := max(e.expireMs-s.nowMs(), 0)
		sess.out = appendInt(sess.out, (left+unitMs/2)/unitMs)
	}
}

func cmdDBSize(s *server, sess *session, _ [][]byte) {
	sess.out = appendInt(sess.out, int64(len(s.store.keys)))
}

func cmdFlushAll(s *server, sess *session, _ [][]byte) {
	s.store.flush()
	s.logWrite(sess, bytesFlushAll)
	sess.out = append(sess.out, "+OK\r\n"...)
}

// SELECT: one database, number 0.
func cmdSelect(_ *server, sess *session, args [][]byte) {
	if n, ok := parseInt(args[1]); !ok || n != 0 {
		sess.out = appendError(sess.out, "ERR DB index is out of range")
		return
	}
	sess.out = append(sess.out, "+OK\r\n"...)
}

// CONFIG GET answers "save" and "appendonly" (redis-benchmark asks for
// both before it starts) and nothing else; other subcommands are not
// supported.
func cmdConfig(s *server, sess *session, args [][]byte) {
	if !equalFold(args[1], "GET") || len(args) != 3 {
		sess.out = appendError(sess.out, "ERR CONFIG subcommand not supported")
		return
	}
	switch {
	case equalFold(args[2], "SAVE"):
		sess.out = appendArrayHeader(sess.out, 2)
		sess.out = appendBulkString(sess.out, "save")
		sess.out = appendBulkString(sess.out, "")
	case equalFold(args[2], "APPENDONLY"):
		sess.out = appendArrayHeader(sess.out, 2)
		sess.out = appendBulkString(sess.out, "appendonly")
		sess.out = appendBulkString(sess.out, map[bool]string{false: "no", true: "yes"}[s.aof != nil])
	default:
		sess.out = appendArrayHeader(sess.out, 0)
	}
}

// COMMAND (redis-cli asks COMMAND DOCS for its hints): an empty list.
func cmdCommand(_ *server, sess *session, _ [][]byte) {
	sess.out = appendArrayHeader(sess.out, 0)
}

func cmdQuit(_ *server, sess *session, _ [][]byte) {
	sess.out = append(sess.out, "+OK\r\n"...)
	sess.quit = true
}

// commandName is the lower-case name of a request, for error texts.
func commandName(name []byte) string { return string(bytes.ToLower(name)) }

// equalFold reports whether b is word in any case (word is upper case).
func equalFold(b []byte, word string) bool {
	if len(b) != len(word) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != word[i] {
			return false
		}
	}
	return true
}

// parseInt parses a decimal int64 the way Redis's string2ll does: an
// optional '-', digits, no blanks, no '+', no leading zeros.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) == 0 || digits[0] < '1' || digits[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	switch {
	case !neg && v <= math.MaxInt64:
		return int64(v), true
	case neg && v <= 1<<63:
		return -int64(v), true
	}
	return 0, false
}
