package ioloop

// inflightTable maps the 64-bit token the kernel hands back (io_uring's
// user_data) to the Completion it belongs to, without a map: the token is
// a slot index in the low 32 bits and the slot's generation in the high 32.
//
// Why not store the *Completion itself in user_data, as C and Zig loops do?
// The Go garbage collector cannot see pointers held by the kernel, so the
// loop must keep every in-flight Completion reachable anyway, and turning an
// integer back into a pointer is exactly what -d=checkptr forbids. The table
// does both jobs: it keeps completions reachable and resolves tokens with
// one bounds-checked index. The generation makes a stale token (a Cancel
// aimed at an earlier use of a Completion) resolve to nothing.
//
// Token 0 is never issued (generations start at 1); backends use it for
// internal requests whose completions need no callback.
type inflightTable struct {
	slots    []inflightSlot
	freeHead uint32 // index of the first free slot, or noSlot
	count    int
}

type inflightSlot struct {
	completion *Completion
	generation uint32
	nextFree   uint32
}

const noSlot = ^uint32(0)

// internalToken is the user_data of requests the loop makes for itself.
const internalToken uint64 = 0

func (t *inflightTable) init(capacity int) {
	t.slots = make([]inflightSlot, 0, capacity)
	t.freeHead = noSlot
}

// add registers c and returns its token. It allocates only when the table
// grows past its high-water mark, so steady state is allocation-free.
func (t *inflightTable) add(c *Completion) uint64 {
	index := t.freeHead
	if index == noSlot {
		t.slots = append(t.slots, inflightSlot{nextFree: noSlot})
		index = uint32(len(t.slots) - 1)
	} else {
		t.freeHead = t.slots[index].nextFree
	}
	slot := &t.slots[index]
	slot.generation++
	if slot.generation == 0 { // wrapped: 0 would make token 0 possible
		slot.generation = 1
	}
	slot.completion = c
	slot.nextFree = noSlot
	t.count++
	return uint64(slot.generation)<<32 | uint64(index)
}

// lookup returns the Completion registered under token, or nil when the
// token is internal, stale or unknown.
func (t *inflightTable) lookup(token uint64) *Completion {
	index := uint32(token)
	if int(index) >= len(t.slots) {
		return nil
	}
	slot := &t.slots[index]
	if slot.generation != uint32(token>>32) || slot.completion == nil {
		return nil
	}
	return slot.completion
}

// remove frees the slot of token, which must be registered.
func (t *inflightTable) remove(token uint64) {
	index := uint32(token)
	slot := &t.slots[index]
	if slot.completion == nil || slot.generation != uint32(token>>32) {
		panic("ioloop: internal error: removing an in-flight token that is not registered")
	}
	slot.completion = nil
	slot.nextFree = t.freeHead
	t.freeHead = index
	t.count--
}

// renew gives token's slot, still registered to c, a new generation and
// returns the new token: the cheap way to re-register a Completion that
// is submitted again (see Loop.keepToken). The old token is stale from
// then on, as if it had been removed.
func (t *inflightTable) renew(c *Completion, token uint64) uint64 {
	index := uint32(token)
	slot := &t.slots[index]
	if slot.completion != c {
		panic("ioloop: internal error: renewing an in-flight token that is not registered")
	}
	slot.generation++
	if slot.generation == 0 { // wrapped: 0 would make token 0 possible
		slot.generation = 1
	}
	return uint64(slot.generation)<<32 | uint64(index)
}

// forEach calls fn for every registered completion and its token.
func (t *inflightTable) forEach(fn func(token uint64, c *Completion)) {
	for index := range t.slots {
		slot := &t.slots[index]
		if slot.completion != nil {
			fn(uint64(slot.generation)<<32|uint64(index), slot.completion)
		}
	}
}
