package simcore

import (
	"encoding/hex"
	"io"
	"strconv"
)

// Trace records what happened in a world, one line per event: the virtual
// time in nanoseconds, the node, what happened and its result. It always
// keeps a running FNV-1a hash of the lines, so two runs can be compared by
// hash without storing either; with a writer attached it also writes them.
type Trace struct {
	hash  uint64
	lines uint64
	out   io.Writer
	line  []byte // reused formatting buffer
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func (t *Trace) init() { t.hash = fnvOffset; t.line = make([]byte, 0, 128) }

// SetWriter makes the trace also write its lines to out (nil: stop).
func (t *Trace) SetWriter(out io.Writer) { t.out = out }

// Hash is the hash of every line so far, in hex.
func (t *Trace) Hash() string {
	var b [8]byte
	for i := range b {
		b[i] = byte(t.hash >> (56 - 8*i))
	}
	return hex.EncodeToString(b[:])
}

// Lines is the number of lines recorded.
func (t *Trace) Lines() uint64 { return t.lines }

func (t *Trace) begin(nowNs int64, n *Node) []byte {
	b := strconv.AppendInt(t.line[:0], nowNs, 10)
	b = append(b, ' ')
	if n != nil {
		b = append(b, n.name...)
	} else {
		b = append(b, '-')
	}
	return append(b, ' ')
}

func (t *Trace) end(b []byte) {
	b = append(b, '\n')
	h := t.hash
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	t.hash = h
	t.lines++
	if t.out != nil {
		t.out.Write(b)
	}
	t.line = b
}

// op records an operation's result.
func (t *Trace) op(nowNs int64, n *Node, kind Kind, fd int, res int32) {
	b := t.begin(nowNs, n)
	b = append(b, kind.String()...)
	b = append(b, " fd="...)
	b = strconv.AppendInt(b, int64(fd), 10)
	b = append(b, " res="...)
	b = strconv.AppendInt(b, int64(res), 10)
	t.end(b)
}

// note records anything else: a fault, a crash, a partition.
func (t *Trace) note(nowNs int64, n *Node, what, detail string) {
	b := t.begin(nowNs, n)
	b = append(b, what...)
	if detail != "" {
		b = append(b, ' ')
		b = append(b, detail...)
	}
	t.end(b)
}

// Note records a line from the program or test driver (for example a
// client's verdict), so that it takes part in the hash.
func (t *Trace) Note(nowNs int64, what string) { t.note(nowNs, nil, what, "") }
