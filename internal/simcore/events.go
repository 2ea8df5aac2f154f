package simcore

type eventKind uint8

const (
	evComplete  eventKind = iota + 1 // deliver a fixed result to an operation
	evDisk                           // a disk operation reaches the device
	evSyn                            // a connect's handshake reaches the listener's node
	evSegment                        // data, FIN or RST reaches the other end of a connection
	evPartition                      // a random partition starts or heals
	evConnected                      // a Connect's outcome reaches the client
	evDatagram                       // a datagram (or an ICMP answer) reaches its destination
)

// event is one entry of the world's queue, a value (no allocation per
// event): events that act on an operation name its node, slot and the
// slot's generation plus the node's incarnation, so that an event for an
// operation that was canceled, or for a node that crashed, is ignored.
type event struct {
	atNs int64
	seq  uint64
	kind eventKind
	node *Node
	slot int32
	gen  uint32
	inc  uint32
	res  int32
	pipe *pipe
	dg   *datagram
	n    int
	flag uint8
}

// eventHeap orders events by time, then by the order they were scheduled,
// which makes the simulation independent of anything but the seed.
type eventHeap struct {
	items []event
}

func (h *eventHeap) len() int     { return len(h.items) }
func (h *eventHeap) peek() *event { return &h.items[0] }
func (h *eventHeap) less(i, j int) bool {
	a, b := &h.items[i], &h.items[j]
	return a.atNs < b.atNs || (a.atNs == b.atNs && a.seq < b.seq)
}

func (h *eventHeap) push(ev event) {
	h.items = append(h.items, ev)
	for i := len(h.items) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			break
		}
		h.items[i], h.items[parent] = h.items[parent], h.items[i]
		i = parent
	}
}

func (h *eventHeap) pop() event {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items[last] = event{} // drop references for the garbage collector
	h.items = h.items[:last]
	for i := 0; ; {
		smallest, left, right := i, 2*i+1, 2*i+2
		if left < last && h.less(left, smallest) {
			smallest = left
		}
		if right < last && h.less(right, smallest) {
			smallest = right
		}
		if smallest == i {
			break
		}
		h.items[i], h.items[smallest] = h.items[smallest], h.items[i]
		i = smallest
	}
	return top
}
