//go:build !windows

package main

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net/netip"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// walServer is the system under test: a write-ahead log served over TCP.
// Clients append records and read them back by sequence number. A record
// is acknowledged only once it is durable, so an acknowledged record must
// survive any crash. It stores its log in one of two ways (variant):
//
//   - variantLog appends every record to one file, /data/wal, and
//     acknowledges it once an Fsync that covers it has completed. With
//     buggy set, it acknowledges as soon as the Write completes, before
//     the Fsync.
//   - variantSegments writes every record as a new segment file, with the
//     protocol that makes a new file durable and atomic: write it under a
//     temporary name, Fsync it, rename it to its final name, Fsync the
//     directory (segments.go). With buggy set, it skips the directory's
//     Fsync: the rename may then be undone by a crash, and the record with
//     it, although its data was synced.
//
// The simulator should find the records each bug loses.
//
// Both first make their directory durable: /data is created if missing,
// and the root directory synced every time, since the previous life of the
// node may have crashed between its Mkdirat and that Fsync; a new file's
// name is likewise durable only once /data is synced, so the log file's
// creation is followed by an Fsync of /data.
//
// It is an ordinary ioloop program: it runs unchanged on a kernel loop.
//
// On disk a record is
//
//	[payload length u32][crc32c of sequence and payload u32][payload]
//
// In the log variant, recovery keeps the longest prefix of valid records,
// then zeroes whatever follows (a torn record), so that no stale record can
// reappear after a later crash.
type walServer struct {
	l       *ioloop.Loop
	variant variant
	listen  netip.AddrPort
	buggy   bool

	dirFD     int // /data, open for Fsync and as the dirfd of the segments
	fd        int
	endOffset int64
	records   [][]byte // payloads by sequence number, recovered or appended

	// Recovery reads the whole log (or one segment at a time) into image.
	image      []byte
	readRetry  int
	recovered  bool
	lfd        int
	accept     ioloop.Completion
	op         ioloop.Completion // the one file operation in progress
	retryTimer ioloop.Completion
	name, tmp  []byte // the segment being written: its final and temporary names

	// Appends are serialized: one Write plus Fsync at a time.
	queue     []*walConn
	appending *walConn
	pending   []byte // the encoded record being appended
	// failed is set when the log can no longer be trusted (an Fsync
	// failed); the server stops, and its supervisor (the test driver)
	// restarts the node.
	failed string
}

// variant is how the server stores its log.
type variant int

const (
	variantLog      variant = iota // one file, appended to
	variantSegments                // a new file per record: write temp, fsync, rename, fsync dir
)

func (v variant) String() string {
	if v == variantSegments {
		return "segments"
	}
	return "log"
}

const (
	maxPayloadBytes = 4096
	recordHeader    = 8
	frameHeader     = 5 // [body length u32][type]
	dataDir         = "/data"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func recordChecksum(seq uint64, payload []byte) uint32 {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], seq)
	return crc32.Update(crc32.Checksum(s[:], castagnoli), castagnoli, payload)
}

func newWALServer(l *ioloop.Loop, v variant, listen netip.AddrPort, buggy bool) *walServer {
	return &walServer{l: l, variant: v, listen: listen, buggy: buggy, dirFD: -1, fd: -1, lfd: -1}
}

// start makes /data durable, opens the log and recovers it; the server
// listens once recovered.
func (s *walServer) start() {
	ioloop.Mkdirat(s.l, &s.op, unix.AT_FDCWD, dataDir, 0o755, s, (*walServer).onMkdir)
}

func (s *walServer) onMkdir(_ *ioloop.Completion, err error) {
	if err != nil && !errors.Is(err, unix.EEXIST) {
		s.fail("mkdir: " + err.Error())
		return
	}
	ioloop.OpenAt(s.l, &s.op, unix.AT_FDCWD, "/", unix.O_RDONLY|unix.O_DIRECTORY, 0, s, (*walServer).onRootOpen)
}

func (s *walServer) onRootOpen(_ *ioloop.Completion, fd int, err error) {
	if err != nil {
		s.fail("open /: " + err.Error())
		return
	}
	ioloop.Fsync(s.l, &s.op, fd, s, func(s *walServer, _ *ioloop.Completion, err error) {
		if err != nil {
			s.fail("fsync /: " + err.Error())
			return
		}
		ioloop.Close(s.l, &s.op, fd, s, func(s *walServer, _ *ioloop.Completion, _ error) {
			ioloop.OpenAt(s.l, &s.op, unix.AT_FDCWD, dataDir, unix.O_RDONLY|unix.O_DIRECTORY, 0, s, (*walServer).onDirOpen)
		})
	})
}

func (s *walServer) onDirOpen(_ *ioloop.Completion, fd int, err error) {
	if err != nil {
		s.fail("open " + dataDir + ": " + err.Error())
		return
	}
	s.dirFD = fd
	if s.variant == variantSegments {
		s.recoverSegment()
		return
	}
	ioloop.OpenAt(s.l, &s.op, s.dirFD, "wal", unix.O_CREAT|unix.O_RDWR, 0o644, s, (*walServer).onOpen)
}

func (s *walServer) fail(why string) {
	if s.failed == "" {
		s.failed = why
	}
}

func (s *walServer) onOpen(_ *ioloop.Completion, fd int, err error) {
	if err != nil {
		s.fail("open: " + err.Error())
		return
	}
	s.fd = fd
	// The log's name is durable once its directory is (whether this life
	// created the file or a previous one crashed before this Fsync).
	ioloop.Fsync(s.l, &s.op, s.dirFD, s, func(s *walServer, _ *ioloop.Completion, err error) {
		if err != nil {
			s.fail("fsync " + dataDir + ": " + err.Error())
			return
		}
		s.readMore()
	})
}

func (s *walServer) readMore() {
	s.image = withRoom(s.image, 64<<10)
	free := s.image[len(s.image):cap(s.image)]
	ioloop.Read(s.l, &s.op, s.fd, free, int64(len(s.image)), s, (*walServer).onRead)
}

func (s *walServer) onRead(_ *ioloop.Completion, n int, err error) {
	switch {
	case err == io.EOF:
		s.recover()
	case err != nil:
		s.retryRead(err, (*walServer).readMore)
	default:
		s.image = s.image[:len(s.image)+n]
		s.readMore()
	}
}

// retryRead retries a recovery read that failed: transient errors are
// retried; a disk that keeps failing stops the server rather than serving
// a log it cannot read.
func (s *walServer) retryRead(err error, again func(*walServer)) {
	if s.readRetry++; s.readRetry > 100 {
		s.fail("recovery read: " + err.Error())
		return
	}
	ioloop.Timeout(s.l, &s.retryTimer, 0, s, func(s *walServer, _ *ioloop.Completion, _ error) { again(s) })
}

// recover keeps the valid prefix of the log and zeroes the rest.
func (s *walServer) recover() {
	offset := 0
	for seq := uint64(0); ; seq++ {
		if len(s.image)-offset < recordHeader {
			break
		}
		size := int(binary.LittleEndian.Uint32(s.image[offset:]))
		sum := binary.LittleEndian.Uint32(s.image[offset+4:])
		if size == 0 || size > maxPayloadBytes || len(s.image)-offset-recordHeader < size {
			break
		}
		payload := s.image[offset+recordHeader : offset+recordHeader+size]
		if recordChecksum(seq, payload) != sum {
			break
		}
		s.records = append(s.records, append([]byte(nil), payload...))
		offset += recordHeader + size
	}
	s.endOffset = int64(offset)
	tail := len(s.image) - offset
	s.image = nil
	if tail == 0 {
		s.serve()
		return
	}
	s.pending = make([]byte, tail)
	ioloop.Write(s.l, &s.op, s.fd, s.pending, s.endOffset, s, (*walServer).onZeroed)
}

func (s *walServer) onZeroed(_ *ioloop.Completion, n int, err error) {
	if err != nil || n != len(s.pending) {
		s.fail("zeroing the torn tail failed")
		return
	}
	ioloop.Fsync(s.l, &s.op, s.fd, s, func(s *walServer, _ *ioloop.Completion, err error) {
		if err != nil {
			s.fail("fsync after recovery: " + err.Error())
			return
		}
		s.pending = nil
		s.serve()
	})
}

func (s *walServer) serve() {
	s.recovered = true
	lfd, _, err := s.l.ListenTCP(s.listen, ioloop.ListenOptions{})
	if err != nil {
		s.fail("listen: " + err.Error())
		return
	}
	s.lfd = lfd
	ioloop.Accept(s.l, &s.accept, lfd, s, (*walServer).onAccept)
}

func (s *walServer) onAccept(_ *ioloop.Completion, fd int, err error) {
	if s.failed != "" {
		return
	}
	if err == nil {
		c := &walConn{s: s, fd: fd}
		c.receive()
	}
	ioloop.Accept(s.l, &s.accept, s.lfd, s, (*walServer).onAccept)
}

// enqueue schedules c's append request.
func (s *walServer) enqueue(c *walConn) {
	s.queue = append(s.queue, c)
	if s.appending == nil {
		s.nextAppend()
	}
}

func (s *walServer) nextAppend() {
	if len(s.queue) == 0 || s.failed != "" {
		return
	}
	c := s.queue[0]
	s.queue = s.queue[1:]
	s.appending = c
	seq := uint64(len(s.records))
	payload := c.request
	s.pending = binary.LittleEndian.AppendUint32(s.pending[:0], uint32(len(payload)))
	s.pending = binary.LittleEndian.AppendUint32(s.pending, recordChecksum(seq, payload))
	s.pending = append(s.pending, payload...)
	if s.variant == variantSegments {
		s.writeSegment()
		return
	}
	ioloop.Write(s.l, &s.op, s.fd, s.pending, s.endOffset, s, (*walServer).onAppendWritten)
}

func (s *walServer) onAppendWritten(_ *ioloop.Completion, n int, err error) {
	c := s.appending
	if err != nil || n != len(s.pending) {
		// Nothing is acknowledged; the next append rewrites this spot.
		s.appending = nil
		c.reply('E', nil)
		s.nextAppend()
		return
	}
	seq := uint64(len(s.records))
	s.records = append(s.records, append([]byte(nil), c.request...))
	s.endOffset += int64(n)
	if s.buggy {
		// BUG (on purpose): acknowledging before the Fsync completes.
		c.replySeq(seq)
	}
	ioloop.Fsync(s.l, &s.op, s.fd, s, (*walServer).onAppendSynced)
}

func (s *walServer) onAppendSynced(_ *ioloop.Completion, err error) {
	c := s.appending
	s.appending = nil
	if err != nil {
		// After a failed Fsync the kernel may have dropped the data: the log
		// cannot be trusted any more (PostgreSQL's "fsyncgate"). Stop.
		s.fail("fsync: " + err.Error())
		if !s.buggy {
			c.reply('E', nil)
		}
		return
	}
	if !s.buggy {
		c.replySeq(uint64(len(s.records) - 1))
	}
	s.nextAppend()
}

// walConn is one client connection: it reads one request at a time and
// answers it before reading the next.
type walConn struct {
	s       *walServer
	fd      int
	in      []byte
	request []byte
	out     []byte
	recv    ioloop.Completion
	send    ioloop.Completion
	close   ioloop.Completion
	closed  bool
}

func (c *walConn) receive() {
	if frame, ok := nextFrame(c.in); ok {
		c.handle(frame)
		return
	}
	c.in = withRoom(c.in, 4096)
	ioloop.Recv(c.s.l, &c.recv, c.fd, c.in[len(c.in):cap(c.in)], c, (*walConn).onRecv)
}

func (c *walConn) onRecv(_ *ioloop.Completion, n int, err error) {
	if err != nil {
		c.shut()
		return
	}
	c.in = c.in[:len(c.in)+n]
	c.receive()
}

// nextFrame returns the first complete frame in buf (type byte and body).
func nextFrame(buf []byte) ([]byte, bool) {
	if len(buf) < frameHeader {
		return nil, false
	}
	size := int(binary.LittleEndian.Uint32(buf))
	if len(buf) < frameHeader+size {
		return nil, false
	}
	return buf[4 : frameHeader+size], true
}

func (c *walConn) handle(frame []byte) {
	kind, body := frame[0], frame[1:]
	consumed := frameHeader + len(body)
	defer func() { c.in = c.in[:copy(c.in, c.in[consumed:])] }()
	switch {
	case kind == 'A' && len(body) > 0 && len(body) <= maxPayloadBytes:
		c.request = append(c.request[:0], body...)
		c.s.enqueue(c)
	case kind == 'G' && len(body) == 8:
		seq := binary.LittleEndian.Uint64(body)
		if seq < uint64(len(c.s.records)) {
			c.reply('V', c.s.records[seq])
		} else {
			c.reply('N', nil)
		}
	default:
		c.shut()
	}
}

func (c *walConn) replySeq(seq uint64) {
	c.reply('K', binary.LittleEndian.AppendUint64(nil, seq))
}

func (c *walConn) reply(kind byte, body []byte) {
	if c.closed {
		return
	}
	c.out = appendFrame(c.out[:0], kind, body)
	ioloop.Send(c.s.l, &c.send, c.fd, c.out, c, (*walConn).onSent)
}

func appendFrame(buf []byte, kind byte, body []byte) []byte {
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(body)))
	buf = append(buf, kind)
	return append(buf, body...)
}

func (c *walConn) onSent(_ *ioloop.Completion, _ int, err error) {
	if err != nil {
		c.shut()
		return
	}
	c.receive()
}

func (c *walConn) shut() {
	if c.closed {
		return
	}
	c.closed = true
	ioloop.Close(c.s.l, &c.close, c.fd, c, func(*walConn, *ioloop.Completion, error) {})
}

// withRoom returns buf with at least room bytes of spare capacity, growing
// it (doubling) when it has less.
func withRoom(buf []byte, room int) []byte {
	if cap(buf)-len(buf) >= room {
		return buf
	}
	grown := make([]byte, len(buf), 2*cap(buf)+2*room)
	copy(grown, buf)
	return grown
}
