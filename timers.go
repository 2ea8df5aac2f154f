package ioloop

// The loop's timers: one implementation for every backend. A Timeout never
// reaches the kernel as a request of its own. The loop keeps pending
// Timeouts in timerHeap, ordered by deadline, and hands the kernel one
// deadline per wait: the earliest timer's bounds the timeout of the
// backend's poll (on io_uring the wait's own timeout, IORING_ENTER_EXT_ARG;
// epoll_pwait2's on epoll; kevent's on kqueue; the simulator's virtual
// clock). After each poll the loop fires every Timeout that is due, in
// deadline order, into the completed FIFO, so timers that expire together
// run in one pass.
//
// Why a heap: see docs/ARCHITECTURE.md, "Timers" (measured against the
// alternatives). Push and Cancel are O(log n) with no kernel call; a
// Completion records its index in the heap (Completion.index), so
// Cancel removes it without searching.

// startTimer makes a submitted Timeout pending in the heap, due its
// duration from now (saturated: a huge duration never fires).
func (l *Loop) startTimer(c *Completion) {
	c.state = stateInFlight
	l.pending++
	l.timers.push(c, addSaturatingNs(l.nowNs(), max(c.durationNs(), 0)))
}

// boundByTimers shortens a wait of timeoutNs (negative: no limit) to the
// earliest timer's deadline.
func (l *Loop) boundByTimers(timeoutNs int64) int64 {
	deadlineNs, ok := l.timers.next()
	if !ok {
		return timeoutNs
	}
	untilNs := max(deadlineNs-l.nowNs(), 0)
	if untilNs > 0 {
		untilNs = addSaturatingNs(untilNs, l.timerSlackNs)
	}
	if timeoutNs < 0 || untilNs < timeoutNs {
		return untilNs
	}
	return timeoutNs
}

// fireTimers completes every Timeout whose deadline has passed, in
// deadline order (ties in submission order). Bounded by the heap's size.
func (l *Loop) fireTimers() {
	nowNs := l.nowNs()
	for c := l.timers.popExpired(nowNs); c != nil; c = l.timers.popExpired(nowNs) {
		if c.op == opLinkTimeout {
			l.fireLinkTimeout(c)
			continue
		}
		l.completeWith(c, 0, codeNone)
	}
}

// cancelTimers completes every pending Timeout with ErrCanceled (Close).
func (l *Loop) cancelTimers() {
	for l.timers.len() > 0 {
		c := l.timers.removeAt(l.timers.len() - 1)
		c.link &^= linkArmed // a LinkTimeout: canceled with the rest
		l.completeWith(c, 0, codeCanceled)
	}
}

// timerHeap orders pending Timeouts by deadline (a 4-ary min-heap). Ties
// fire in submission order: seq breaks them.
//
// Its entries live in fixed-size chunks rather than one slice: growing a
// slice of a million entries copies it again and again, and the garbage
// of every earlier copy counts in the process's peak memory until the
// runtime returns it (measured: a quarter of the timers workload's RSS).
// Chunks are kept at the high-water mark, so steady state allocates
// nothing.
type timerHeap struct {
	chunks  [][]timerEntry
	n       int
	nextSeq uint64
}

type timerEntry struct {
	deadlineNs int64
	seq        uint64
	c          *Completion
}

// timerChunkShift sets the chunk size: 1024 entries, 24 KiB.
const (
	timerChunkShift = 10
	timerChunkMask  = 1<<timerChunkShift - 1
)

func (h *timerHeap) len() int { return h.n }

func (h *timerHeap) at(index int) *timerEntry {
	return &h.chunks[index>>timerChunkShift][index&timerChunkMask]
}

// push adds c, due at deadlineNs. It allocates only when the heap grows
// past its high-water mark.
func (h *timerHeap) push(c *Completion, deadlineNs int64) {
	if h.n == len(h.chunks)<<timerChunkShift {
		h.chunks = append(h.chunks, make([]timerEntry, 1<<timerChunkShift))
	}
	h.nextSeq++
	index := h.n
	h.n++
	*h.at(index) = timerEntry{deadlineNs: deadlineNs, seq: h.nextSeq, c: c}
	c.index = int32(index)
	h.up(index)
}

// next returns the earliest deadline; ok is false when the heap is empty.
func (h *timerHeap) next() (deadlineNs int64, ok bool) {
	if h.n == 0 {
		return 0, false
	}
	return h.at(0).deadlineNs, true
}

// popExpired removes and returns the earliest timer if it is due at nowNs.
func (h *timerHeap) popExpired(nowNs int64) *Completion {
	if h.n == 0 || h.at(0).deadlineNs > nowNs {
		return nil
	}
	return h.removeAt(0)
}

// remove takes c out of the heap; c must be in it.
func (h *timerHeap) remove(c *Completion) {
	index := int(c.index)
	if index < 0 || index >= h.n || h.at(index).c != c {
		panic("ioloop: internal error: timer not in the heap")
	}
	h.removeAt(index)
}

func (h *timerHeap) removeAt(index int) *Completion {
	c := h.at(index).c
	last := h.n - 1
	if index != last {
		*h.at(index) = *h.at(last)
	}
	*h.at(last) = timerEntry{} // drop the reference for the garbage collector
	h.n = last
	if index != last {
		h.down(index)
		h.up(index)
	}
	c.index = -1
	return c
}

func (a *timerEntry) before(b *timerEntry) bool {
	if a.deadlineNs != b.deadlineNs {
		return a.deadlineNs < b.deadlineNs
	}
	return a.seq < b.seq
}

// The heap is 4-ary: half the depth of a binary heap, and each level's
// children are adjacent. Sifting moves a hole instead of swapping, so a
// level costs one entry copy and one write to the moved Completion's
// index (Completions are scattered in memory; these writes are the
// heap's main cost at a million timers).
const timerHeapArity = 4

func (h *timerHeap) up(index int) {
	moving := *h.at(index)
	for index > 0 {
		parent := (index - 1) / timerHeapArity
		p := h.at(parent)
		if !moving.before(p) {
			break
		}
		*h.at(index) = *p
		p.c.index = int32(index)
		index = parent
	}
	*h.at(index) = moving
	moving.c.index = int32(index)
}

func (h *timerHeap) down(index int) {
	moving := *h.at(index)
	for {
		first := timerHeapArity*index + 1
		if first >= h.n {
			break
		}
		smallest := first
		for child := first + 1; child < min(first+timerHeapArity, h.n); child++ {
			if h.at(child).before(h.at(smallest)) {
				smallest = child
			}
		}
		s := h.at(smallest)
		if !s.before(&moving) {
			break
		}
		*h.at(index) = *s
		s.c.index = int32(index)
		index = smallest
	}
	*h.at(index) = moving
	moving.c.index = int32(index)
}
