//go:build !windows

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
// Completion records its index in the heap (Completion.wait.index), so
// Cancel removes it without searching.

// startTimer makes a submitted Timeout pending in the heap, due its
// duration from now (saturated: a huge duration never fires).
func (l *Loop) startTimer(c *Completion) {
	c.state = stateInFlight
	l.pending++
	l.timers.push(c, addSaturatingNs(l.nowNs(), max(c.timer.durationNs, 0)))
}

// boundByTimers shortens a wait of timeoutNs (negative: no limit) to the
// earliest timer's deadline.
func (l *Loop) boundByTimers(timeoutNs int64) int64 {
	deadlineNs, ok := l.timers.next()
	if !ok {
		return timeoutNs
	}
	untilNs := max(deadlineNs-l.nowNs(), 0)
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
		l.completeWith(c, 0, codeNone)
	}
}

// cancelTimers completes every pending Timeout with ErrCanceled (Close).
func (l *Loop) cancelTimers() {
	for l.timers.len() > 0 {
		l.completeWith(l.timers.removeAt(l.timers.len()-1), 0, codeCanceled)
	}
}

// timerHeap orders pending Timeouts by deadline (a binary min-heap). Ties
// fire in submission order: seq breaks them.
type timerHeap struct {
	entries []timerEntry
	nextSeq uint64
}

type timerEntry struct {
	deadlineNs int64
	seq        uint64
	c          *Completion
}

func (h *timerHeap) len() int { return len(h.entries) }

// push adds c, due at deadlineNs. It allocates only when the heap grows
// past its high-water mark.
func (h *timerHeap) push(c *Completion, deadlineNs int64) {
	h.nextSeq++
	h.entries = append(h.entries, timerEntry{deadlineNs: deadlineNs, seq: h.nextSeq, c: c})
	index := len(h.entries) - 1
	c.wait.index = int32(index)
	h.up(index)
}

// next returns the earliest deadline; ok is false when the heap is empty.
func (h *timerHeap) next() (deadlineNs int64, ok bool) {
	if len(h.entries) == 0 {
		return 0, false
	}
	return h.entries[0].deadlineNs, true
}

// popExpired removes and returns the earliest timer if it is due at nowNs.
func (h *timerHeap) popExpired(nowNs int64) *Completion {
	if len(h.entries) == 0 || h.entries[0].deadlineNs > nowNs {
		return nil
	}
	return h.removeAt(0)
}

// remove takes c out of the heap; c must be in it.
func (h *timerHeap) remove(c *Completion) {
	index := int(c.wait.index)
	if index < 0 || index >= len(h.entries) || h.entries[index].c != c {
		panic("ioloop: internal error: timer not in the heap")
	}
	h.removeAt(index)
}

func (h *timerHeap) removeAt(index int) *Completion {
	c := h.entries[index].c
	last := len(h.entries) - 1
	if index != last {
		h.swap(index, last)
	}
	h.entries[last] = timerEntry{} // drop the reference for the garbage collector
	h.entries = h.entries[:last]
	if index != last {
		h.down(index)
		h.up(index)
	}
	c.wait.index = -1
	return c
}

func (h *timerHeap) less(i, j int) bool {
	a, b := &h.entries[i], &h.entries[j]
	if a.deadlineNs != b.deadlineNs {
		return a.deadlineNs < b.deadlineNs
	}
	return a.seq < b.seq
}

func (h *timerHeap) swap(i, j int) {
	h.entries[i], h.entries[j] = h.entries[j], h.entries[i]
	h.entries[i].c.wait.index = int32(i)
	h.entries[j].c.wait.index = int32(j)
}

func (h *timerHeap) up(index int) {
	for index > 0 {
		parent := (index - 1) / 2
		if !h.less(index, parent) {
			return
		}
		h.swap(index, parent)
		index = parent
	}
}

func (h *timerHeap) down(index int) {
	for {
		smallest := index
		left, right := 2*index+1, 2*index+2
		if left < len(h.entries) && h.less(left, smallest) {
			smallest = left
		}
		if right < len(h.entries) && h.less(right, smallest) {
			smallest = right
		}
		if smallest == index {
			return
		}
		h.swap(index, smallest)
		index = smallest
	}
}
