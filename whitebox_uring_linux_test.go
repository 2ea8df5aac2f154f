package ioloop

// Views of io_uring internals for tests that check the rings were really
// exercised. They are methods so that those tests compile on systems whose
// uringBackend is only a stub (whitebox_uring_other_test.go).

func (b *uringBackend) overflowLen() int     { return b.overflow.size }
func (b *uringBackend) sqEntries() uint32    { return b.ring.SQEntries() }
func (b *uringBackend) cqEntries() uint32    { return b.ring.CQEntries() }
func (b *uringBackend) cqOverflowCount() int { return b.cqOverflows }

// publishSQ publishes the SQEs written so far and returns how many the
// kernel has not consumed yet.
func (b *uringBackend) publishSQ() uint32 { return b.ring.Publish() }
