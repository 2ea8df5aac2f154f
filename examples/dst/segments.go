//go:build !windows

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// The segments variant of walServer: record N is the file /data/seg-N,
// which appears whole or not at all. It is the protocol every storage
// engine uses to publish a new file (an LSM tree's table, a log's rolled
// segment, a checkpoint), at one record per file so that crashes hit it
// often:
//
//  1. write the contents to a temporary name (seg-N.tmp, truncated first:
//     a crash may have left one behind),
//  2. Fsync it, so that the data is durable,
//  3. rename it to its final name, atomically,
//  4. Fsync the directory, so that the rename is durable.
//
// Only then is the record acknowledged. The buggy variant skips step 4:
// the data is on disk, but after a crash its name may be seg-N.tmp, or
// nothing, so the acknowledged record is gone.
//
// Recovery opens seg-0, seg-1, ... until one is missing. Every name up to
// an acknowledged record is durable, and the rename of seg-N+1 happens
// after that of seg-N, so the survivors are a prefix.

func segmentName(buf []byte, seq int, tmp bool) []byte {
	buf = fmt.Appendf(buf[:0], "seg-%d", seq)
	if tmp {
		buf = append(buf, ".tmp"...)
	}
	return buf
}

// writeSegment starts step 1 for the record in s.pending.
func (s *walServer) writeSegment() {
	seq := len(s.records)
	s.tmp, s.name = segmentName(s.tmp, seq, true), segmentName(s.name, seq, false)
	ioloop.OpenAt(s.l, &s.op, s.dirFD, string(s.tmp), unix.O_CREAT|unix.O_TRUNC|unix.O_WRONLY, 0o644, s, (*walServer).onSegmentOpen)
}

func (s *walServer) onSegmentOpen(_ *ioloop.Completion, fd int, err error) {
	if err != nil {
		s.fail("open segment: " + err.Error())
		return
	}
	s.fd = fd
	ioloop.Write(s.l, &s.op, fd, s.pending, 0, s, (*walServer).onSegmentWritten)
}

func (s *walServer) onSegmentWritten(_ *ioloop.Completion, n int, err error) {
	if err != nil || n != len(s.pending) {
		// Not acknowledged, and not renamed: the next append starts over
		// with a truncated temporary file.
		s.closeSegment(func(s *walServer) {
			c := s.appending
			s.appending = nil
			c.reply('E', nil)
			s.nextAppend()
		})
		return
	}
	ioloop.Fsync(s.l, &s.op, s.fd, s, (*walServer).onSegmentSynced)
}

func (s *walServer) onSegmentSynced(_ *ioloop.Completion, err error) {
	if err != nil {
		// As in the log variant: after a failed Fsync the data may be gone.
		s.fail("fsync segment: " + err.Error())
		return
	}
	s.closeSegment(func(s *walServer) {
		ioloop.Renameat(s.l, &s.op, s.dirFD, string(s.tmp), s.dirFD, string(s.name), 0, s, (*walServer).onSegmentRenamed)
	})
}

// closeSegment closes the segment's descriptor, then goes on with then.
func (s *walServer) closeSegment(then func(s *walServer)) {
	fd := s.fd
	s.fd = -1
	ioloop.Close(s.l, &s.op, fd, s, func(s *walServer, _ *ioloop.Completion, err error) {
		if err != nil {
			s.fail("close segment: " + err.Error())
			return
		}
		then(s)
	})
}

func (s *walServer) onSegmentRenamed(_ *ioloop.Completion, err error) {
	if err != nil {
		s.fail("rename segment: " + err.Error())
		return
	}
	if s.buggy {
		// BUG (on purpose): the rename is atomic but not yet durable.
		s.segmentDurable()
		return
	}
	ioloop.Fsync(s.l, &s.op, s.dirFD, s, func(s *walServer, _ *ioloop.Completion, err error) {
		if err != nil {
			s.fail("fsync " + dataDir + ": " + err.Error())
			return
		}
		s.segmentDurable()
	})
}

// segmentDurable acknowledges the record and takes the next one.
func (s *walServer) segmentDurable() {
	c := s.appending
	s.appending = nil
	seq := uint64(len(s.records))
	s.records = append(s.records, append([]byte(nil), c.request...))
	c.replySeq(seq)
	s.nextAppend()
}

// recoverSegment opens the segment that would hold the next record.
func (s *walServer) recoverSegment() {
	s.name = segmentName(s.name, len(s.records), false)
	ioloop.OpenAt(s.l, &s.op, s.dirFD, string(s.name), unix.O_RDONLY, 0, s, (*walServer).onRecoverOpen)
}

func (s *walServer) onRecoverOpen(_ *ioloop.Completion, fd int, err error) {
	switch {
	case errors.Is(err, unix.ENOENT):
		s.serve() // the end of the log
	case err != nil:
		s.fail("open segment: " + err.Error())
	default:
		s.fd = fd
		s.image = withRoom(s.image[:0], recordHeader+maxPayloadBytes+1)
		s.readSegment()
	}
}

func (s *walServer) readSegment() {
	free := s.image[len(s.image):cap(s.image)]
	ioloop.Read(s.l, &s.op, s.fd, free, int64(len(s.image)), s, (*walServer).onSegmentRead)
}

func (s *walServer) onSegmentRead(_ *ioloop.Completion, n int, err error) {
	switch {
	case err == io.EOF || (err == nil && len(s.image)+n == cap(s.image)):
		s.image = s.image[:len(s.image)+n]
		s.closeSegment((*walServer).checkSegment)
	case err != nil:
		s.retryRead(err, (*walServer).readSegment)
	default:
		s.image = s.image[:len(s.image)+n]
		s.readSegment()
	}
}

// checkSegment keeps the segment just read if it holds exactly one valid
// record with the next sequence number. A segment is synced before it
// gets its name, so an invalid one means the disk lost synced data: the
// server stops rather than serve a log with a hole.
func (s *walServer) checkSegment() {
	seq := uint64(len(s.records))
	img := s.image
	if len(img) >= recordHeader {
		size := int(binary.LittleEndian.Uint32(img))
		sum := binary.LittleEndian.Uint32(img[4:])
		if size > 0 && size <= maxPayloadBytes && len(img) == recordHeader+size &&
			recordChecksum(seq, img[recordHeader:]) == sum {
			s.records = append(s.records, append([]byte(nil), img[recordHeader:]...))
			s.recoverSegment()
			return
		}
	}
	s.fail(fmt.Sprintf("segment %d is corrupt (%d bytes)", seq, len(img)))
}
