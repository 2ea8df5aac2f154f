//go:build linux || darwin || freebsd || netbsd || openbsd

package ioloop

// timerHeap orders the pending Timeouts of a readiness backend by deadline
// (a binary min-heap), so that the earliest one bounds the poll wait and
// expired ones fire in deadline order. Ties fire in submission order, as
// io_uring fires equal timeouts: seq breaks them. A Completion in the heap
// records its index (Completion.timerIndex) so that Cancel removes it in
// O(log n) without searching.
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
