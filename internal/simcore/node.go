package simcore

import (
	"math"
	"net/netip"
	"syscall"
)

// Node is one simulated machine: an address, a table of descriptors, a
// file system that survives crashes (as a disk would), and the operations
// its loop has in flight.
type Node struct {
	world *World
	id    int
	name  string
	addr  netip.Addr
	host  Host
	// inc counts incarnations: a crash starts a new one, and events of the
	// old one are ignored.
	inc uint32

	// ops is indexed by the low 32 bits of the loop's token (its in-flight
	// table slot), so finding an operation needs no map.
	ops []opSlot

	fds       []fdEntry
	fdHint    int // no descriptor below it is free
	listeners map[uint16]*socket
	udpPorts  map[uint16]*socket // bound datagram sockets (datagram.go)
	nextPort  uint16
	fs        fileSystem
	crashed   bool

	// spareFiles are the handles of closed files, reused by the next
	// opens so that opening and closing files allocates nothing.
	spareFiles []*fileHandle
	// stat is where Statx builds its result for the host (a local would
	// escape through the Host interface: one allocation per Statx).
	stat Stat
}

type fdEntry struct {
	sock *socket
	file *fileHandle
}

// firstFD is the lowest descriptor handed out: 0, 1 and 2 belong to the
// process's standard streams, as in a real one.
const firstFD = 3

type slotState uint8

const (
	slotFree      slotState = iota
	slotParked              // waiting in a list (readers, writers, acceptors): cancelable
	slotTimer               // a Timeout whose event is queued: cancelable
	slotConnect             // a Connect whose handshake is under way: cancelable
	slotRunning             // a disk operation on the device: not cancelable (EALREADY)
	slotScheduled           // result fixed, delivery queued: too late to cancel (ENOENT)
)

type opSlot struct {
	req   Request
	state slotState
	// list, prev and next link a parked operation into its wait list.
	list       *opList
	prev, next int32
	sock       *socket
	startNs    int64
}

// opList is an intrusive FIFO of parked operations (slot indices).
type opList struct {
	head, tail int32
	count      int
}

func newOpList() opList { return opList{head: -1, tail: -1} }

// Name is the node's name.
func (n *Node) Name() string { return n.name }

// Addr is the node's address.
func (n *Node) Addr() netip.Addr { return n.addr }

// World is the world the node belongs to.
func (n *Node) World() *World { return n.world }

// Attach connects the node to its loop; results go to host from now on.
func (n *Node) Attach(host Host) {
	if n.host != nil {
		panic("sim: node " + n.name + " already has a running loop")
	}
	n.host = host
	n.crashed = false
}

// Crashed reports whether the node is down (crashed and not restarted).
func (n *Node) Crashed() bool { return n.crashed }

// reset starts a new incarnation: no descriptors, no operations.
func (n *Node) reset() {
	n.inc++
	n.ops = n.ops[:0]
	n.fds = n.fds[:0]
	n.fdHint = firstFD
	n.listeners = make(map[uint16]*socket)
	n.udpPorts = make(map[uint16]*socket)
	n.nextPort = 40000
}

// Crash kills the node's process: its loop gets no more results (the
// program that would receive them is gone), its connections are reset,
// and its file system loses or tears whatever no completed Fsync covered
// (of a file: its data; of a directory: its entries; fs.go and disk.go).
func (n *Node) Crash() {
	if n.crashed {
		return
	}
	w := n.world
	w.trace.note(w.nowNs, n, "crash", "")
	w.net.crashNode(n)
	n.fs.crash(&w.rand, &w.trace, w.nowNs, n)
	n.host = nil
	n.crashed = true
	n.reset()
}

// Incarnation counts the node's lives: a crash begins a new one.
func (n *Node) Incarnation() uint32 { return n.inc }

// Detach disconnects a closed loop from the node (its descriptors stay, as
// they would in a process that closed its loop and goes on).
func (n *Node) Detach() { n.host = nil }

func (n *Node) slot(index int32) *opSlot { return &n.ops[index] }

// current reports whether an operation event still applies: same
// incarnation, and the slot still holds the operation it was made for.
func (n *Node) current(ev *event) bool {
	if ev.inc != n.inc || int(ev.slot) >= len(n.ops) {
		return false
	}
	s := &n.ops[ev.slot]
	return s.state != slotFree && s.req.Token == ev.tokenOf()
}

func (ev *event) tokenOf() uint64 { return uint64(ev.gen)<<32 | uint64(uint32(ev.slot)) }

func (n *Node) opEvent(kind eventKind, index int32, atNs int64, res int32) event {
	token := n.ops[index].req.Token
	return event{atNs: atNs, kind: kind, node: n, slot: index, gen: uint32(token >> 32), inc: n.inc, res: res}
}

// Submit starts an operation.
func (n *Node) Submit(req *Request) {
	if n.crashed || n.host == nil {
		panic("sim: operation submitted on node " + n.name + ", which has no running loop")
	}
	index := int32(uint32(req.Token))
	for int(index) >= len(n.ops) {
		n.ops = append(n.ops, opSlot{})
	}
	s := &n.ops[index]
	if s.state != slotFree {
		panic("simcore: internal error: token slot already in use")
	}
	*s = opSlot{req: *req, prev: -1, next: -1}
	w := n.world
	w.opsStarted++
	switch req.Kind {
	case KindNop:
		n.deliver(index, 0)
	case KindTimeout:
		s.state = slotTimer
		// A deadline saturated at the end of time is never reached: no
		// event, only a cancelable slot, as io_uring never fires it.
		if atNs := AddSaturatingNs(w.nowNs, req.TimeoutNs); atNs != math.MaxInt64 {
			w.schedule(n.opEvent(evComplete, index, atNs, 0))
		}
	case KindAccept, KindConnect, KindRecv, KindSend, KindShutdown, KindSendMsg, KindRecvMsg:
		w.net.start(n, index)
	case KindRead, KindWrite, KindReadv, KindWritev:
		if len(req.Bufs) > maxIovecs {
			// Refused before the descriptor is looked at, as io_uring
			// imports the iovecs when it prepares the request.
			n.deliver(index, -int32(syscall.EINVAL))
			return
		}
		if e := n.fdEntry(req.FD); e != nil && e.sock != nil {
			w.net.start(n, index) // read(2)/write(2)/readv(2)/writev(2) on a socket act like recv/send
			return
		}
		n.startDisk(index)
	case KindClose:
		e := n.fdEntry(req.FD)
		switch {
		case e == nil:
			n.deliver(index, -int32(syscall.EBADF))
		case e.sock != nil:
			w.net.closeSocket(n, req.FD)
			n.deliver(index, 0)
		default:
			n.startDisk(index)
		}
	default:
		n.startDisk(index)
	}
}

// deliver hands an operation's result to the loop and frees its slot.
func (n *Node) deliver(index int32, res int32) {
	s := &n.ops[index]
	token, kind, fd := s.req.Token, s.req.Kind, s.req.FD
	if s.list != nil {
		s.list.remove(n, index)
	}
	*s = opSlot{}
	w := n.world
	w.trace.op(w.nowNs, n, kind, fd, res)
	if n.host != nil {
		n.host.Complete(token, res)
	}
}

// deliverLater fixes an operation's result and delivers it after delayNs.
func (n *Node) deliverLater(index int32, res int32, delayNs int64) {
	if delayNs <= 0 {
		n.deliver(index, res)
		return
	}
	n.ops[index].state = slotScheduled
	n.world.schedule(n.opEvent(evComplete, index, n.world.nowNs+delayNs, res))
}

// Cancel answers a Cancel aimed at token: 0 when the operation was
// canceled (its ECANCELED result has been delivered), -ENOENT when it is
// not in flight or already has its result, -EALREADY when it is running
// on the device and cannot be stopped.
func (n *Node) Cancel(token uint64) int32 {
	index := int32(uint32(token))
	if int(index) >= len(n.ops) || n.ops[index].req.Token != token || n.ops[index].state == slotFree {
		return -int32(syscall.ENOENT)
	}
	switch n.ops[index].state {
	case slotConnect:
		s := n.ops[index].sock
		n.deliver(index, -int32(syscall.ECANCELED))
		n.world.net.abandonConnect(s)
		return 0
	case slotParked, slotTimer:
		n.deliver(index, -int32(syscall.ECANCELED))
		return 0
	case slotRunning:
		return -int32(syscall.EALREADY)
	}
	return -int32(syscall.ENOENT)
}

// CancelAll cancels everything that can be canceled (the loop is closing);
// the rest completes on its own.
func (n *Node) CancelAll() {
	for index := range n.ops {
		switch n.ops[index].state {
		case slotParked, slotTimer, slotConnect:
			n.deliver(int32(index), -int32(syscall.ECANCELED))
		}
	}
}

// park puts an operation at the end of list.
func (n *Node) park(list *opList, index int32) {
	s := &n.ops[index]
	s.state = slotParked
	s.list = list
	s.prev, s.next = list.tail, -1
	if list.tail >= 0 {
		n.ops[list.tail].next = index
	} else {
		list.head = index
	}
	list.tail = index
	list.count++
}

// remove unlinks index from l.
func (l *opList) remove(n *Node, index int32) {
	s := &n.ops[index]
	if s.prev >= 0 {
		n.ops[s.prev].next = s.next
	} else {
		l.head = s.next
	}
	if s.next >= 0 {
		n.ops[s.next].prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.list, s.prev, s.next = nil, -1, -1
	l.count--
}

// takeFirst unparks and returns the first operation of l, or -1.
func (l *opList) takeFirst(n *Node) int32 {
	index := l.head
	if index >= 0 {
		l.remove(n, index)
		n.ops[index].state = slotRunning // neither free nor parked while it is retried
	}
	return index
}

// fdEntry returns the entry of an open descriptor, or nil.
func (n *Node) fdEntry(fd int) *fdEntry {
	if fd < 0 || fd >= len(n.fds) {
		return nil
	}
	e := &n.fds[fd]
	if e.sock == nil && e.file == nil {
		return nil
	}
	return e
}

// allocFD returns the lowest free descriptor, as open(2) does.
func (n *Node) allocFD(e fdEntry) int {
	fd := n.fdHint
	for fd < len(n.fds) && (n.fds[fd].sock != nil || n.fds[fd].file != nil) {
		fd++
	}
	for fd >= len(n.fds) {
		n.fds = append(n.fds, fdEntry{})
	}
	n.fds[fd] = e
	n.fdHint = fd + 1
	return fd
}

func (n *Node) freeFD(fd int) {
	if f := n.fds[fd].file; f != nil {
		f.ino.opens--
		*f = fileHandle{}
		n.spareFiles = append(n.spareFiles, f)
	}
	n.fds[fd] = fdEntry{}
	if fd < n.fdHint {
		n.fdHint = fd
	}
}

// OpenFDs counts the node's open descriptors (tests check for leaks).
func (n *Node) OpenFDs() int {
	count := 0
	for i := range n.fds {
		if n.fds[i].sock != nil || n.fds[i].file != nil {
			count++
		}
	}
	return count
}

// InFlight counts the node's operations that have not been delivered.
func (n *Node) InFlight() int {
	count := 0
	for i := range n.ops {
		if n.ops[i].state != slotFree {
			count++
		}
	}
	return count
}
