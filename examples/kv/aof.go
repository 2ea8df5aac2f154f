//go:build !windows

package main

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"time"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// The append-only file. Every write command is appended as the RESP
// request whose replay gives the same state (relative expiry times are
// written as absolute ones: SET ... PXAT, PEXPIREAT). Records are written
// in batches, one batch per loop pass (group commit): the writes of every
// connection served in one pass go out in one file write, and while that
// write is in flight the next batch gathers. Each batch ends with a
// checksum record,
//
//	*2\r\n$4\r\n#CRC\r\n$8\r\n<crc32c of the batch, 8 hex digits>\r\n
//
// so that replay keeps exactly the batches that reached the disk whole: a
// crash may tear the last write, or keep a later sector of it and lose an
// earlier one, and the checksum tells. Replay stops at the first batch
// that does not check, truncates the file there and syncs it, so that a
// torn tail can never reappear after a later crash behind new records.
// (Redis's own AOF has no checksums; this file is not meant for Redis.)
//
// Policies, as Redis's appendfsync:
//
//	always    every batch is written with WriteDurable (RWF_DSYNC on Linux);
//	          a write's reply is held until its batch is durable
//	everysec  batches are plain Writes; an Fdatasync runs every second
//	no        plain Writes; the kernel writes back when it likes
type aof struct {
	l      *ioloop.Loop
	policy fsyncPolicy
	path   string
	fd     int
	dirFD  int

	// Offsets in the file: everything below durable is on stable storage
	// (as far as the policy promises), below written the kernel has, and
	// below end has been appended (written plus the batch in flight and the
	// batch gathering).
	durable, written, endOffset int64

	gather   []byte // the batch gathering (records since the last batch)
	flight   []byte // the batch being written
	flightAt int64  // its offset in the file
	flightN  int    // how much of it is written
	writing  bool
	ticked   bool // a NextTick will start the next write

	syncing  bool
	syncUpTo int64

	waiters []*session

	op, tick, syncOp, syncTimer, closeOp ioloop.Completion

	// Startup: the file read whole, replayed, its bad tail cut.
	image    []byte
	retries  int
	replay   func(args [][]byte)
	ready    func()
	fail     func(reason string)
	closed   bool   // closeWhenIdle has closed it
	onIdle   func() // closeWhenIdle's done, until then
	ioFailed bool
}

type fsyncPolicy int

const (
	fsyncAlways fsyncPolicy = iota
	fsyncEverySec
	fsyncNo
)

func parsePolicy(s string) (fsyncPolicy, error) {
	switch s {
	case "always":
		return fsyncAlways, nil
	case "everysec":
		return fsyncEverySec, nil
	case "no":
		return fsyncNo, nil
	}
	return 0, fmt.Errorf("unknown fsync policy %q (want always, everysec or no)", s)
}

func (p fsyncPolicy) String() string {
	return [...]string{"always", "everysec", "no"}[p]
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const crcName = "#CRC"

var bytesCRC = []byte(crcName)

// openAOF opens (creating) the file at path, makes its name durable,
// reads and replays it through replay, cuts a torn tail, and then calls
// ready; on an error it calls fail. Everything goes through the loop, so
// that it runs on the simulator too.
func openAOF(l *ioloop.Loop, path string, policy fsyncPolicy, replay func(args [][]byte), ready func(), fail func(reason string)) *aof {
	a := &aof{l: l, policy: policy, path: path, fd: -1, dirFD: -1, replay: replay, ready: ready, fail: fail}
	ioloop.OpenAt(l, &a.op, unix.AT_FDCWD, path, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o644, a, (*aof).onOpen)
	return a
}

func (a *aof) failed(what string, err error) {
	a.ioFailed = true
	a.fail(fmt.Sprintf("%s %s: %v", what, a.path, err))
}

func (a *aof) onOpen(_ *ioloop.Completion, fd int, err error) {
	if err != nil {
		a.failed("open", err)
		return
	}
	a.fd = fd
	// The file's name is durable once its directory is synced: every
	// start syncs it, since an earlier life may have crashed between
	// creating the file and syncing the directory.
	ioloop.OpenAt(a.l, &a.op, unix.AT_FDCWD, filepath.Dir(a.path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, a, (*aof).onDirOpen)
}

func (a *aof) onDirOpen(_ *ioloop.Completion, fd int, err error) {
	if err != nil {
		a.failed("open the directory of", err)
		return
	}
	a.dirFD = fd
	ioloop.Fsync(a.l, &a.op, fd, a, func(a *aof, _ *ioloop.Completion, err error) {
		if err != nil {
			a.failed("fsync the directory of", err)
			return
		}
		ioloop.Close(a.l, &a.op, a.dirFD, a, func(a *aof, _ *ioloop.Completion, _ error) {
			a.dirFD = -1
			a.readMore()
		})
	})
}

func (a *aof) readMore() {
	if cap(a.image)-len(a.image) < 64<<10 {
		grown := make([]byte, len(a.image), 2*cap(a.image)+64<<10)
		copy(grown, a.image)
		a.image = grown
	}
	ioloop.Read(a.l, &a.op, a.fd, a.image[len(a.image):cap(a.image)], int64(len(a.image)), a, (*aof).onRead)
}

func (a *aof) onRead(_ *ioloop.Completion, n int, err error) {
	switch {
	case err == io.EOF:
		a.recover()
	case err != nil:
		// A transient disk error (the simulator injects them): retry a
		// few times before giving up on the file.
		if a.retries++; a.retries > 100 {
			a.failed("read", err)
			return
		}
		ioloop.Timeout(a.l, &a.op, time.Millisecond, a, func(a *aof, _ *ioloop.Completion, _ error) { a.readMore() })
	default:
		a.image = a.image[:len(a.image)+n]
		a.readMore()
	}
}

// validPrefix returns the length of the longest prefix of image made of
// whole batches whose checksums match.
func validPrefix(image []byte) int {
	p := parser{}
	valid, pos, batch := 0, 0, 0
	for pos < len(image) {
		args, n, err := p.parse(image[pos:])
		if err != nil {
			break
		}
		if len(args) == 2 && string(args[0]) == crcName {
			var want [4]byte
			if len(args[1]) != 8 || !decodeHex(args[1], want[:]) ||
				binary.BigEndian.Uint32(want[:]) != crc32.Checksum(image[batch:pos], castagnoli) {
				break
			}
			valid, batch = pos+n, pos+n
		}
		pos += n
	}
	return valid
}

// recover replays the valid prefix and cuts what follows it.
func (a *aof) recover() {
	valid := validPrefix(a.image)
	p := parser{}
	for pos := 0; pos < valid; {
		args, n, _ := p.parse(a.image[pos:valid])
		pos += n
		if len(args) > 0 && string(args[0]) != crcName {
			a.replay(args)
		}
	}
	a.durable, a.written, a.endOffset = int64(valid), int64(valid), int64(valid)
	size := len(a.image)
	a.image = nil
	if size == valid {
		a.syncReplayed()
		return
	}
	ioloop.Ftruncate(a.l, &a.op, a.fd, int64(valid), a, func(a *aof, _ *ioloop.Completion, err error) {
		if err != nil {
			a.failed("truncate the torn tail of", err)
			return
		}
		a.syncReplayed()
	})
}

// syncReplayed makes what was replayed durable before anything is served:
// an earlier life may have written it without syncing (policy everysec,
// or a crash before its sync completed), and a new batch acknowledged
// behind a prefix that a later crash could still lose would be lost with
// it.
func (a *aof) syncReplayed() {
	ioloop.Fsync(a.l, &a.op, a.fd, a, func(a *aof, _ *ioloop.Completion, err error) {
		if err != nil {
			a.failed("fsync", err)
			return
		}
		a.ready()
	})
}

// end is the offset after the last record appended (0 without a file).
func (a *aof) end() int64 {
	if a == nil {
		return 0
	}
	return a.endOffset
}

// append adds one record to the batch gathering, and makes sure a write
// starts on the loop's next pass (after every callback of this one has
// added its records).
func (a *aof) append(args [][]byte) {
	before := len(a.gather)
	a.gather = appendCommand(a.gather, args...)
	a.endOffset += int64(len(a.gather) - before)
	if !a.writing && !a.ticked && !a.closed {
		a.ticked = true
		ioloop.NextTick(a.l, &a.tick, a, func(a *aof, _ *ioloop.Completion, _ error) {
			a.ticked = false
			a.startWrite()
			a.closeIfIdle()
		})
	}
}

// await puts sess on the list of sessions waiting for durability.
func (a *aof) await(sess *session) {
	if !sess.waiting {
		sess.waiting = true
		a.waiters = append(a.waiters, sess)
	}
}

// startWrite writes the gathered batch, sealed with its checksum.
func (a *aof) startWrite() {
	if a.writing || len(a.gather) == 0 || a.closed || a.ioFailed {
		return
	}
	sum := crc32.Checksum(a.gather, castagnoli)
	var hex [8]byte
	encodeHex(hex[:], sum)
	before := len(a.gather)
	a.gather = appendCommand(a.gather, bytesCRC, hex[:])
	a.endOffset += int64(len(a.gather) - before)
	a.flight, a.gather = a.gather, a.flight[:0]
	a.flightAt, a.flightN = a.written, 0
	a.writing = true
	a.writeRest()
}

func (a *aof) writeRest() {
	buf := a.flight[a.flightN:]
	at := a.flightAt + int64(a.flightN)
	if a.policy == fsyncAlways {
		ioloop.WriteDurable(a.l, &a.op, a.fd, buf, at, ioloop.DataSync, a, (*aof).onWritten)
		return
	}
	ioloop.Write(a.l, &a.op, a.fd, buf, at, a, (*aof).onWritten)
}

func (a *aof) onWritten(_ *ioloop.Completion, n int, err error) {
	if err != nil {
		// The file's state is unknown (for a failed sync: the kernel may
		// have dropped the data, PostgreSQL's "fsyncgate"): stop.
		a.writing = false
		a.failed("write", err)
		a.closeIfIdle()
		return
	}
	a.flightN += n
	if a.flightN < len(a.flight) {
		a.writeRest()
		return
	}
	a.writing = false
	a.written = a.flightAt + int64(len(a.flight))
	switch a.policy {
	case fsyncAlways:
		a.madeDurable(a.written)
	case fsyncEverySec:
		if !a.syncTimer.Pending() && !a.syncing {
			ioloop.Timeout(a.l, &a.syncTimer, time.Second, a, (*aof).onSyncTimer)
		}
	}
	a.startWrite()
	a.closeIfIdle()
}

// madeDurable records that everything below offset is durable and
// releases the sessions whose writes that covers.
func (a *aof) madeDurable(offset int64) {
	a.durable = max(a.durable, offset)
	kept := a.waiters[:0]
	for _, sess := range a.waiters {
		if sess.closed {
			sess.waiting = false
			continue
		}
		if sess.waitOffset > a.durable {
			kept = append(kept, sess)
			continue
		}
		sess.waiting = false
		sess.heldFrom = -1
		sess.release(sess)
	}
	clear(a.waiters[len(kept):])
	a.waiters = kept
}

// onSyncTimer (everysec) syncs what has been written.
func (a *aof) onSyncTimer(_ *ioloop.Completion, err error) {
	if err != nil || a.closed || a.ioFailed || a.written == a.durable {
		return
	}
	a.syncing, a.syncUpTo = true, a.written
	ioloop.Fdatasync(a.l, &a.syncOp, a.fd, a, func(a *aof, _ *ioloop.Completion, err error) {
		a.syncing = false
		if err != nil {
			a.failed("fdatasync", err)
			return
		}
		a.durable = max(a.durable, a.syncUpTo)
		if a.written > a.durable && !a.syncTimer.Pending() && a.onIdle == nil {
			ioloop.Timeout(a.l, &a.syncTimer, time.Second, a, (*aof).onSyncTimer)
		}
		a.closeIfIdle()
	})
}

// closeWhenIdle closes the file once the batches gathered so far are
// written (and, unless the policy is "no", synced), then calls done.
func (a *aof) closeWhenIdle(done func()) {
	a.onIdle = done
	a.closeIfIdle()
}

func (a *aof) closeIfIdle() {
	if a.onIdle == nil || a.writing || a.syncing || a.ticked || a.closed {
		return
	}
	if len(a.gather) > 0 && !a.ioFailed {
		a.startWrite()
		return
	}
	if a.policy != fsyncNo && a.written > a.durable && !a.ioFailed {
		a.syncing, a.syncUpTo = true, a.written
		ioloop.Fdatasync(a.l, &a.syncOp, a.fd, a, func(a *aof, _ *ioloop.Completion, err error) {
			a.syncing = false
			if err != nil {
				a.failed("fdatasync", err)
			} else {
				a.durable = max(a.durable, a.syncUpTo)
			}
			a.closeIfIdle()
		})
		return
	}
	a.closed = true
	done := a.onIdle
	a.onIdle = nil
	if a.fd < 0 {
		done()
		return
	}
	ioloop.Close(a.l, &a.closeOp, a.fd, a, func(a *aof, _ *ioloop.Completion, _ error) { done() })
	a.fd = -1
}

const hexDigits = "0123456789abcdef"

func encodeHex(dst []byte, v uint32) {
	for i := 7; i >= 0; i-- {
		dst[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

func decodeHex(src, dst []byte) bool {
	for i := range dst {
		hi, ok1 := unhex(src[2*i])
		lo, ok2 := unhex(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
