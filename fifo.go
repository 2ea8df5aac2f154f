package ioloop

// fifo is an intrusive singly linked FIFO of completions, threaded through
// Completion.next. Pushing and popping never allocate, and a Completion is
// in at most one fifo at a time (its state says which).
type fifo struct {
	head *Completion
	tail *Completion
	size int
}

func (q *fifo) empty() bool { return q.head == nil }

func (q *fifo) push(c *Completion) {
	if c.next != nil || q.tail == c {
		panic("ioloop: internal error: completion pushed onto two queues")
	}
	if q.tail == nil {
		q.head = c
	} else {
		q.tail.next = c
	}
	q.tail = c
	q.size++
}

// pushFront puts c first (a chain's operation whose callback must run
// next: chain.go).
func (q *fifo) pushFront(c *Completion) {
	if c.next != nil || q.tail == c {
		panic("ioloop: internal error: completion pushed onto two queues")
	}
	c.next = q.head
	q.head = c
	if q.tail == nil {
		q.tail = c
	}
	q.size++
}

func (q *fifo) pop() *Completion {
	c := q.head
	if c == nil {
		return nil
	}
	q.head = c.next
	if q.head == nil {
		q.tail = nil
	}
	c.next = nil
	q.size--
	return c
}

// remove unlinks c if it is queued and reports whether it was. It walks the
// queue, which is fine for its only use (cancelling a queued submission).
func (q *fifo) remove(c *Completion) bool {
	var previous *Completion
	for it := q.head; it != nil; previous, it = it, it.next {
		if it != c {
			continue
		}
		if previous == nil {
			q.head = it.next
		} else {
			previous.next = it.next
		}
		if q.tail == it {
			q.tail = previous
		}
		it.next = nil
		q.size--
		return true
	}
	return false
}

// takeAll moves every element into a new fifo and leaves q empty.
func (q *fifo) takeAll() fifo {
	all := *q
	*q = fifo{}
	return all
}

// prependAll puts the elements of front before those of q.
func (q *fifo) prependAll(front *fifo) {
	if front.empty() {
		return
	}
	if q.empty() {
		*q = *front
	} else {
		front.tail.next = q.head
		q.head = front.head
		q.size += front.size
	}
	*front = fifo{}
}
