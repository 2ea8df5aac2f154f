package ioloop

// Views of io_uring internals for tests that check the rings were really
// exercised. They are methods so that those tests compile on systems
// without io_uring, where whitebox_uring_other_test.go gives the tests a
// stand-in uringBackend that no loop ever has.

// uringOf returns the loop's io_uring backend, or nil on other backends;
// tests that inspect ring internals skip those checks when it is nil.
func uringOf(l *Loop) *uringBackend {
	b, _ := l.backend.(*uringBackend)
	return b
}

// canRingAny reports whether the kernel has IORING_OP_MSG_RING.
func (b *uringBackend) canRingAny() bool { return b.doorbells != nil }

func (b *uringBackend) overflowLen() int     { return b.overflow.size }
func (b *uringBackend) sqEntries() uint32    { return b.ring.SQEntries() }
func (b *uringBackend) cqEntries() uint32    { return b.ring.CQEntries() }
func (b *uringBackend) cqOverflowCount() int { return b.cqOverflows }

// publishSQ publishes the SQEs written so far and returns how many the
// kernel has not consumed yet.
func (b *uringBackend) publishSQ() uint32 { return b.ring.Publish() }
