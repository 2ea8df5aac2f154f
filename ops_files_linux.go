package ioloop

import "unsafe"

// SyncFileRange starts or waits for writeback of [offset, offset+length)
// of the file fd (length 0: to the end), like sync_file_range(2) (Linux
// only): flags are unix.SYNC_FILE_RANGE_WAIT_BEFORE, _WRITE and
// _WAIT_AFTER. It makes nothing durable (no metadata, no disk cache
// flush); storage engines use it to start writeback early, so that a later
// Fdatasync has less to wait for. On io_uring it is
// IORING_OP_SYNC_FILE_RANGE, whose length field has 32 bits: a length of
// 4 GiB or more runs sync_file_range(2) on a worker instead.
func SyncFileRange[T any](l *Loop, c *Completion, fd int, offset, length int64, flags int, ctx *T, callback func(ctx *T, c *Completion, err error)) {
	l.prepare(c, opSyncFileRange, callback == nil)
	c.op = opSyncFileRange
	l.submitRange(c, fd, offset, length, flags, unsafe.Pointer(ctx), errorCallback[T](callback))
}
