//go:build !windows

package main

// store is the keyspace: a Go map from key to entry, on the loop's
// goroutine only. Lookups convert the key with m[string(b)], which the
// compiler does without allocating; a SET of an existing key copies the
// value into the entry's own buffer, reusing it when it is big enough, so
// GET and SET of existing keys allocate nothing in steady state.
//
// Expiry is Redis's two ways: lazily, when a command touches a key whose
// time has passed, and actively, from a min-heap of expiry times (expiry
// below) that one Timeout on the loop keeps armed for the earliest.
type store struct {
	keys    map[string]*entry
	expires expiryHeap
	// nowMs reads the clock (the loop's: virtual time on the simulator)
	// in Unix milliseconds.
	nowMs func() int64
}

// entry is one key's value and expiry.
type entry struct {
	key      string
	val      []byte
	expireMs int64 // Unix milliseconds; 0: no expiry
	heapAt   int   // index in expiryHeap, -1 when not in it
}

func newStore(nowMs func() int64) *store {
	return &store{keys: make(map[string]*entry), nowMs: nowMs}
}

// lookup returns the live entry of key, deleting it first if its time
// has passed (lazy expiry). The clock is read only for keys with an
// expiry.
func (s *store) lookup(key []byte) *entry {
	e := s.keys[string(key)]
	if e == nil {
		return nil
	}
	if e.expireMs != 0 && s.nowMs() >= e.expireMs {
		s.remove(e)
		return nil
	}
	return e
}

// set stores val under key, with expireMs (0: none, and any expiry the key
// had is cleared, as SET without KEEPTTL does in Redis). It returns the
// entry.
func (s *store) set(key, val []byte, expireMs int64) *entry {
	e := s.keys[string(key)]
	if e == nil {
		e = &entry{key: string(key), heapAt: -1}
		s.keys[e.key] = e
	}
	e.val = append(e.val[:0], val...)
	s.setExpiry(e, expireMs)
	return e
}

// setExpiry changes e's expiry (0: none), keeping the heap in step.
func (s *store) setExpiry(e *entry, expireMs int64) {
	switch {
	case expireMs == 0 && e.heapAt >= 0:
		s.expires.remove(e)
	case expireMs != 0 && e.heapAt >= 0:
		e.expireMs = expireMs
		s.expires.fix(e)
	case expireMs != 0:
		e.expireMs = expireMs
		s.expires.push(e)
	}
	e.expireMs = expireMs
}

// remove deletes e from the keyspace.
func (s *store) remove(e *entry) {
	if e.heapAt >= 0 {
		s.expires.remove(e)
	}
	delete(s.keys, e.key)
}

// expireDue deletes every key whose expiry is at or before nowMs and
// returns how many it deleted.
func (s *store) expireDue(nowMs int64) int {
	n := 0
	for len(s.expires) > 0 && s.expires[0].expireMs <= nowMs {
		s.remove(s.expires[0])
		n++
	}
	return n
}

// nextExpiry is the earliest expiry time, if any key has one.
func (s *store) nextExpiry() (int64, bool) {
	if len(s.expires) == 0 {
		return 0, false
	}
	return s.expires[0].expireMs, true
}

// flush deletes every key.
func (s *store) flush() {
	clear(s.keys)
	for _, e := range s.expires {
		e.heapAt = -1
	}
	s.expires = s.expires[:0]
}

// expiryHeap is a binary min-heap of entries by expireMs; each entry
// records its index, so that removing or moving one is O(log n).
type expiryHeap []*entry

func (h *expiryHeap) push(e *entry) {
	e.heapAt = len(*h)
	*h = append(*h, e)
	h.up(e.heapAt)
}

func (h *expiryHeap) remove(e *entry) {
	i, last := e.heapAt, len(*h)-1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	e.heapAt = -1
	if i != last {
		h.fixAt(i)
	}
}

func (h *expiryHeap) fix(e *entry) { h.fixAt(e.heapAt) }

func (h *expiryHeap) fixAt(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h expiryHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapAt, h[j].heapAt = i, j
}

func (h expiryHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].expireMs <= h[i].expireMs {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

// down sifts h[i] down and reports whether it moved.
func (h expiryHeap) down(i int) bool {
	start := i
	for {
		child := 2*i + 1
		if child >= len(h) {
			break
		}
		if right := child + 1; right < len(h) && h[right].expireMs < h[child].expireMs {
			child = right
		}
		if h[i].expireMs <= h[child].expireMs {
			break
		}
		h.swap(i, child)
		i = child
	}
	return i > start
}
