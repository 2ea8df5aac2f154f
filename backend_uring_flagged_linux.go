package ioloop

// The operations whose CQEs carry more than a result: the flags say which
// provided buffer a pooled receive filled (IORING_CQE_F_BUFFER), whether a
// multishot request stays armed (IORING_CQE_F_MORE), and which CQE of a
// zero-copy send is its notification (IORING_CQE_F_NOTIF). reap hands
// their CQEs here, flags and all; every other operation takes the fast
// path, which looks only at the result.

// cqeFlagged marks the operations completeFlagged handles. It has 256
// entries so that indexing by an opcode needs no bounds check.
var cqeFlagged = [256]bool{opSendZC: true, opRecvPooled: true, opRecvMultishot: true, opAcceptMultishot: true,
	opRecvFromMultishot: true}

// completeFlagged completes (or, for a multishot or a zero-copy send,
// advances) c from one of its CQEs.
func (b *uringBackend) completeFlagged(c *Completion, res int32, flags uint32) {
	switch c.op {
	case opSendZC:
		b.completeSendZC(c, res, flags)
	case opRecvPooled, opRecvMultishot, opAcceptMultishot, opRecvFromMultishot:
		b.completePooled(c, res, flags)
	default:
		panic("ioloop: internal error: io_uring CQE flags for " + c.op.String() + ", which has none")
	}
}
