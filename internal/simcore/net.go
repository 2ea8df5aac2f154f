package simcore

import (
	"math"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

// The network: stream sockets between nodes (or within one) on virtual
// addresses. Each direction of a connection is a pipe whose bytes arrive
// in order after a random latency, limited by a buffer size that stands in
// for the send and receive buffers together. Partitions hold segments back
// until they heal (TCP would retransmit), and stall handshakes until the
// connect times out.

type socketState uint8

const (
	sockNew socketState = iota
	sockListening
	sockConnecting
	sockConnected
)

type socket struct {
	node *Node
	// inc is the node's incarnation that owns the socket; after a crash
	// the node's old sockets are dead.
	inc           uint32
	fd            int // -1 until accepted
	state         socketState
	local, remote netip.AddrPort

	// Listener.
	backlog    []*socket
	backlogMax int
	acceptors  opList
	// connectors are the Connects that found the handshake under way:
	// they get its outcome, as on io_uring, where a second connect waits
	// for the socket to become writable.
	connectors opList

	// Connection: in carries the peer's bytes to us, out ours to the peer.
	in, out          *pipe
	readers, writers opList
	rdShut           bool
	reset            bool // a RST arrived, or a fault reset the connection
	closed           bool // the program closed its descriptor
	lingerZero       bool // SO_LINGER with a zero timeout: close resets

	// Datagram sockets (datagram.go): dgram marks one, v6 its family.
	dgram bool
	v6    bool
	dg    dgramState
}

type pipe struct {
	from, to *socket
	// data holds bytes sent and not yet read: data[head:head+arrived] can
	// be read, the rest is in transit.
	data    []byte
	head    int
	arrived int
	lastNs  int64 // arrival time of the latest segment (keeps order)
	finSent bool
	finIn   bool // the FIN arrived: after the data, reads see EOF
}

func (s *socket) alive() bool { return s.inc == s.node.inc && !s.node.crashed }

func (p *pipe) unread() int { return len(p.data) - p.head }

// consume drops n read bytes, compacting once the dead prefix dominates so
// that a long-lived connection reuses its buffer instead of growing it.
func (p *pipe) consume(n int) {
	p.head += n
	p.arrived -= n
	if p.head == len(p.data) {
		p.data, p.head = p.data[:0], 0
	} else if p.head > len(p.data)/2 && p.head > 4096 {
		copied := copy(p.data, p.data[p.head:])
		p.data, p.head = p.data[:copied], 0
	}
}

const (
	segData uint8 = iota
	segFIN
	segRST
)

type cut struct {
	from, to *Node
	untilNs  int64 // 0: until healed by hand
}

type network struct {
	w    *World
	cuts []cut
	// spare are recycled datagrams (datagram.go).
	spare []*datagram
}

func (nw *network) init(w *World) { nw.w = w }

func (nw *network) latency() int64 {
	l := nw.w.cfg.NetLatency
	return nw.w.rand.Between(l.Min, l.Max)
}

// blocked reports whether segments from one node to another are cut.
func (nw *network) blocked(from, to *Node) bool {
	for i := range nw.cuts {
		if nw.cuts[i].from == from && nw.cuts[i].to == to {
			return true
		}
	}
	return false
}

// Partition cuts traffic from one node to another (both ways when
// symmetric) until Heal, or until untilNs when it is not 0.
func (w *World) Partition(a, b *Node, symmetric bool, untilNs int64) {
	w.net.cuts = append(w.net.cuts, cut{from: a, to: b, untilNs: untilNs})
	what := "partition-oneway"
	if symmetric {
		w.net.cuts = append(w.net.cuts, cut{from: b, to: a, untilNs: untilNs})
		what = "partition"
	}
	w.trace.note(w.nowNs, a, what, b.name)
}

// Heal removes the cuts between a and b, both directions (nil, nil: all).
func (w *World) Heal(a, b *Node) {
	kept := w.net.cuts[:0]
	for _, c := range w.net.cuts {
		if a != nil && !((c.from == a && c.to == b) || (c.from == b && c.to == a)) {
			kept = append(kept, c)
		}
	}
	w.net.cuts = kept
	if a != nil {
		w.trace.note(w.nowNs, a, "heal", b.name)
	} else {
		w.trace.note(w.nowNs, nil, "heal-all", "")
	}
}

// schedulePartitions starts the random partition process once the world
// has two nodes and a rate.
func (nw *network) schedulePartitions() {
	rate := nw.w.cfg.Faults.PartitionRate
	if rate <= 0 || len(nw.w.nodes) < 2 {
		return
	}
	gapNs := int64(-math.Log(1-nw.w.rand.Float64()) / rate * float64(time.Second))
	nw.w.schedule(event{atNs: nw.w.nowNs + gapNs, kind: evPartition})
}

// partitionEvent starts a random partition (flag 0) or removes the random
// partitions whose time is up (flag 1).
func (nw *network) partitionEvent(ev *event) {
	w := nw.w
	if ev.flag == 1 {
		kept := nw.cuts[:0]
		for _, c := range nw.cuts {
			if c.untilNs == 0 || c.untilNs > w.nowNs {
				kept = append(kept, c)
			}
		}
		if len(kept) != len(nw.cuts) {
			w.trace.note(w.nowNs, nil, "heal-expired", "")
		}
		nw.cuts = kept
		return
	}
	nodes := w.nodes
	a := nodes[w.rand.Intn(len(nodes))]
	b := nodes[w.rand.Intn(len(nodes)-1)]
	if b == a {
		b = nodes[len(nodes)-1]
	}
	untilNs := w.nowNs + 1 + w.rand.Between(0, w.cfg.Faults.PartitionMax)
	w.Partition(a, b, !w.rand.Chance(w.cfg.Faults.OneWay), untilNs)
	w.schedule(event{atNs: untilNs, kind: evPartition, flag: 1})
	nw.schedulePartitions()
}

// resolve finds the node that owns addr as seen from n.
func (nw *network) resolve(n *Node, addr netip.Addr) *Node {
	addr = addr.Unmap()
	if addr.IsLoopback() || addr == n.addr || addr.IsUnspecified() {
		return n
	}
	for _, other := range nw.w.nodes {
		if other.addr == addr {
			return other
		}
	}
	return nil
}

// Socket opens an unconnected stream socket.
func (n *Node) Socket() int {
	s := &socket{node: n, inc: n.inc, readers: newOpList(), writers: newOpList(), acceptors: newOpList(), connectors: newOpList()}
	s.fd = n.allocFD(fdEntry{sock: s})
	return s.fd
}

// Listen opens a socket listening on addr (port 0: an ephemeral port) and
// returns it with the address it is bound to.
func (n *Node) Listen(addr netip.AddrPort, backlog int) (int, netip.AddrPort, syscall.Errno) {
	ip := addr.Addr().Unmap()
	if !ip.IsLoopback() && !ip.IsUnspecified() && ip != n.addr {
		return -1, netip.AddrPort{}, syscall.EADDRNOTAVAIL
	}
	port := addr.Port()
	if port == 0 {
		port = n.ephemeralPort()
	} else if _, taken := n.listeners[port]; taken {
		return -1, netip.AddrPort{}, syscall.EADDRINUSE
	}
	if backlog <= 0 || backlog > 4096 {
		backlog = 4096
	}
	fd := n.Socket()
	s := n.fds[fd].sock
	s.state = sockListening
	s.backlogMax = backlog
	s.local = netip.AddrPortFrom(ip, port)
	n.listeners[port] = s
	return fd, s.local, 0
}

func (n *Node) ephemeralPort() uint16 {
	for {
		port := n.nextPort
		n.nextPort++
		if n.nextPort == 0 {
			n.nextPort = 40000
		}
		if _, taken := n.listeners[port]; !taken {
			return port
		}
	}
}

// LocalAddr and RemoteAddr report a socket's addresses.
func (n *Node) LocalAddr(fd int) (netip.AddrPort, syscall.Errno) {
	e := n.fdEntry(fd)
	if e == nil {
		return netip.AddrPort{}, syscall.EBADF
	}
	if e.sock == nil {
		return netip.AddrPort{}, syscall.ENOTSOCK
	}
	return e.sock.local, 0
}

// RemoteAddr reports the address of a connected socket's peer.
func (n *Node) RemoteAddr(fd int) (netip.AddrPort, syscall.Errno) {
	e := n.fdEntry(fd)
	if e == nil {
		return netip.AddrPort{}, syscall.EBADF
	}
	if e.sock == nil {
		return netip.AddrPort{}, syscall.ENOTSOCK
	}
	if e.sock.state != sockConnected {
		return netip.AddrPort{}, syscall.ENOTCONN
	}
	return e.sock.remote, 0
}

// start begins a network operation.
func (nw *network) start(n *Node, index int32) {
	req := &n.ops[index].req
	e := n.fdEntry(req.FD)
	if e == nil {
		n.deliver(index, -int32(syscall.EBADF))
		return
	}
	if e.sock == nil {
		n.deliver(index, -int32(syscall.ENOTSOCK))
		return
	}
	s := e.sock
	if s.dgram {
		nw.startDatagram(n, s, index)
		return
	}
	switch req.Kind {
	case KindAccept:
		if s.state != sockListening {
			n.deliver(index, -int32(syscall.EINVAL))
			return
		}
		nw.tryAccept(s, index)
	case KindConnect:
		nw.connect(n, s, index)
	case KindRecv, KindRead, KindReadv:
		nw.tryRecv(s, index)
	case KindSend, KindWrite, KindWritev:
		nw.trySend(s, index)
	case KindShutdown:
		nw.shutdown(s, index)
	}
}

func (nw *network) tryAccept(l *socket, index int32) {
	n := l.node
	if len(l.backlog) == 0 {
		n.park(&l.acceptors, index)
		return
	}
	s := l.backlog[0]
	copy(l.backlog, l.backlog[1:])
	l.backlog[len(l.backlog)-1] = nil
	l.backlog = l.backlog[:len(l.backlog)-1]
	s.fd = n.allocFD(fdEntry{sock: s})
	n.deliver(index, int32(s.fd))
}

func (nw *network) connect(n *Node, s *socket, index int32) {
	w := nw.w
	switch s.state {
	case sockConnected:
		n.deliver(index, -int32(syscall.EISCONN))
		return
	case sockConnecting:
		n.park(&s.connectors, index)
		return
	case sockListening:
		n.deliver(index, -int32(syscall.EISCONN))
		return
	}
	addr := n.ops[index].req.Addr
	if !addr.IsValid() || addr.Port() == 0 {
		n.deliver(index, -int32(syscall.EINVAL))
		return
	}
	s.state = sockConnecting
	s.local = netip.AddrPortFrom(n.addr, n.ephemeralPort())
	if addr.Addr().IsLoopback() {
		s.local = netip.AddrPortFrom(addr.Addr(), s.local.Port())
	}
	s.remote = addr
	slot := n.slot(index)
	slot.state = slotConnect
	slot.sock = s
	slot.startNs = w.nowNs
	if w.rand.Chance(w.cfg.Faults.ConnectRefused) {
		w.trace.note(w.nowNs, n, "fault", "connect-refused")
		nw.connectOutcome(n, index, -int32(syscall.ECONNREFUSED), 2*nw.latency())
		return
	}
	if w.rand.Chance(w.cfg.Faults.ConnectTimeout) {
		w.trace.note(w.nowNs, n, "fault", "connect-timeout")
		slot.startNs = math.MinInt64 / 2 // the first retry gives up
	}
	w.schedule(n.opEvent(evSyn, index, w.nowNs+nw.latency(), 0))
}

// arriveSyn is a Connect's handshake reaching the target's node.
func (nw *network) arriveSyn(n *Node, index int32) {
	w := nw.w
	slot := n.slot(index)
	s := slot.sock
	target := nw.resolve(n, s.remote.Addr())
	var l *socket
	if target != nil && !target.crashed {
		l = target.listeners[s.remote.Port()]
	}
	if target == nil || target.crashed || nw.blocked(n, target) || (l != nil && len(l.backlog) >= l.backlogMax) {
		// The SYN is lost: retry until the connect times out.
		if w.nowNs-slot.startNs >= int64(w.cfg.ConnectTimeout) {
			nw.connectOutcome(n, index, -int32(syscall.ETIMEDOUT), 0)
			return
		}
		w.schedule(n.opEvent(evSyn, index, w.nowNs+int64(w.cfg.RetransmitDelay), 0))
		return
	}
	if l == nil {
		nw.connectOutcome(n, index, -int32(syscall.ECONNREFUSED), nw.latency())
		return
	}
	server := &socket{node: target, inc: target.inc, fd: -1, state: sockConnected, local: netip.AddrPortFrom(s.remote.Addr(), l.local.Port()),
		remote: s.local, readers: newOpList(), writers: newOpList(), acceptors: newOpList(), connectors: newOpList()}
	s.out = &pipe{from: s, to: server}
	s.in = &pipe{from: server, to: s}
	server.in, server.out = s.out, s.in
	l.backlog = append(l.backlog, server)
	if l.acceptors.count > 0 {
		nw.tryAccept(l, l.acceptors.takeFirst(target))
	}
	// The client learns of the connection a latency later (the SYN-ACK);
	// until then its socket is still connecting.
	nw.connectOutcome(n, index, 0, nw.latency())
}

// connectOutcome fixes a Connect's result, which the client learns after
// delayNs (an evConnected event).
func (nw *network) connectOutcome(n *Node, index int32, res int32, delayNs int64) {
	if delayNs <= 0 {
		nw.finishConnect(n, index, res)
		return
	}
	n.ops[index].state = slotScheduled
	nw.w.schedule(n.opEvent(evConnected, index, nw.w.nowNs+delayNs, res))
}

// finishConnect ends a socket's handshake: the Connect and the Connects
// that waited for it get its result, and the Sends and Recvs that waited
// for it proceed (or fail, if it failed).
func (nw *network) finishConnect(n *Node, index int32, res int32) {
	s := n.ops[index].sock
	s.state = sockConnected
	if res != 0 {
		s.state = sockNew
	}
	n.deliver(index, res)
	for waiter := s.connectors.takeFirst(n); waiter >= 0; waiter = s.connectors.takeFirst(n) {
		n.deliver(waiter, res)
	}
	nw.retryWaiters(s)
}

// abandonConnect is a canceled Connect whose handshake had not reached the
// listener: the socket is unconnected again, and what waited for the
// handshake starts over: the first waiting Connect begins a new one.
func (nw *network) abandonConnect(s *socket) {
	s.state = sockNew
	n := s.node
	for k := s.connectors.count; k > 0; k-- {
		nw.connect(n, s, s.connectors.takeFirst(n))
	}
	if s.state == sockNew {
		nw.retryWaiters(s)
	}
}

// retryWaiters tries again, once each, the Sends and Recvs parked on s
// while it was connecting; those that still cannot proceed park again.
func (nw *network) retryWaiters(s *socket) {
	n := s.node
	for k := s.readers.count; k > 0; k-- {
		nw.tryRecv(s, s.readers.takeFirst(n))
	}
	for k := s.writers.count; k > 0; k-- {
		nw.trySend(s, s.writers.takeFirst(n))
	}
}

// chunk picks how many of the n bytes that could move do move: all of
// them, or with the PartialIO fault a random, non-zero part.
func (nw *network) chunk(n int) int {
	if n > 1 && nw.w.rand.Chance(nw.w.cfg.Faults.PartialIO) {
		return 1 + nw.w.rand.Intn(n-1)
	}
	return n
}

// faultReset decides whether a Send or Recv resets the connection.
func (nw *network) faultReset(s *socket) bool {
	if !nw.w.rand.Chance(nw.w.cfg.Faults.Reset) {
		return false
	}
	nw.w.trace.note(nw.w.nowNs, s.node, "fault", "reset")
	nw.resetLocal(s)
	nw.sendSegment(s.out, segRST, 0)
	return true
}

// connErrno is why a Send or Recv on s fails at once, or 0. Sending on a
// socket that is not connected fails with EPIPE, as Linux's
// sk_stream_wait_connect answers; receiving, with ENOTCONN.
func connErrno(s *socket, sending bool) syscall.Errno {
	switch {
	case s.state == sockConnected && s.reset:
		return syscall.ECONNRESET
	case s.state == sockConnected:
		return 0
	case sending:
		return syscall.EPIPE
	}
	return syscall.ENOTCONN
}

func (nw *network) tryRecv(s *socket, index int32) {
	n := s.node
	req := &n.ops[index].req
	size := requestLen(req)
	switch {
	case size == 0 && req.Kind != KindRecv:
		// read(2) of nothing on a socket returns 0 at once (Linux's
		// sock_read_iter); recv(2) of nothing waits for readability.
		n.deliver(index, 0)
		return
	case s.state == sockConnecting:
		n.park(&s.readers, index) // tcp_recvmsg waits in SYN_SENT
		return
	}
	if errno := connErrno(s, false); errno != 0 {
		n.deliver(index, -int32(errno))
		return
	}
	in := s.in
	switch {
	case s.rdShut:
		n.deliver(index, 0)
	case in.arrived > 0 && size == 0:
		n.deliver(index, 0) // readable: a zero-length Recv is done, and consumes nothing
	case in.arrived > 0:
		if nw.faultReset(s) {
			n.deliver(index, -int32(syscall.ECONNRESET))
			return
		}
		count := nw.chunk(min(size, in.arrived))
		scatter(req, in.data[in.head:in.head+count])
		in.consume(count)
		n.deliver(index, int32(count))
		nw.wakeWriters(in.from)
	case in.finIn:
		n.deliver(index, 0)
	default:
		n.park(&s.readers, index)
	}
}

func (nw *network) trySend(s *socket, index int32) {
	n := s.node
	w := nw.w
	if s.state == sockConnecting {
		n.park(&s.writers, index) // sk_stream_wait_connect waits in SYN_SENT
		return
	}
	if errno := connErrno(s, true); errno != 0 {
		n.deliver(index, -int32(errno))
		return
	}
	out := s.out
	if out.finSent {
		n.deliver(index, -int32(syscall.EPIPE))
		return
	}
	req := &n.ops[index].req
	size := requestLen(req)
	if size == 0 {
		n.deliver(index, 0)
		return
	}
	space := w.cfg.SocketBufBytes - out.unread()
	if space <= 0 {
		n.park(&s.writers, index)
		return
	}
	if nw.faultReset(s) {
		n.deliver(index, -int32(syscall.ECONNRESET))
		return
	}
	count := nw.chunk(min(size, space))
	start := len(out.data)
	out.data = slices.Grow(out.data, count)[:start+count] // not append(make): that allocates under -race
	gather(req, out.data[start:])
	nw.sendSegment(out, segData, count)
	n.deliver(index, int32(count))
}

// sendSegment puts count bytes (already appended to p.data), a FIN or a
// RST on the wire; segments of one pipe arrive in the order sent.
func (nw *network) sendSegment(p *pipe, kind uint8, count int) {
	w := nw.w
	atNs := w.nowNs + nw.latency()
	if atNs < p.lastNs {
		atNs = p.lastNs
	}
	p.lastNs = atNs
	if kind == segFIN {
		p.finSent = true
	}
	w.schedule(event{atNs: atNs, kind: evSegment, pipe: p, n: count, flag: kind})
}

// arriveSegment delivers a segment to the receiving socket.
func (nw *network) arriveSegment(ev *event) {
	w := nw.w
	p := ev.pipe
	receiver := p.to
	if !receiver.alive() {
		return // the process is gone; its peer learns through the RST sent at the crash
	}
	if nw.blocked(p.from.node, receiver.node) {
		ev.atNs = w.nowNs + int64(w.cfg.RetransmitDelay)
		p.lastNs = max(p.lastNs, ev.atNs)
		w.schedule(*ev)
		return
	}
	switch ev.flag {
	case segData:
		p.arrived += ev.n
		if receiver.closed && !receiver.reset {
			// Data for a socket whose descriptor is closed: the stack
			// answers with a RST.
			nw.resetLocal(receiver)
			nw.sendSegment(receiver.out, segRST, 0)
			return
		}
	case segFIN:
		p.finIn = true
	case segRST:
		nw.resetLocal(receiver)
		return
	}
	nw.wakeReaders(receiver)
}

// resetLocal marks s reset and fails everything waiting on it.
func (nw *network) resetLocal(s *socket) {
	if s.reset {
		return
	}
	s.reset = true
	n := s.node
	if !s.alive() {
		return
	}
	for _, waiters := range [2]*opList{&s.readers, &s.writers} {
		for index := waiters.takeFirst(n); index >= 0; index = waiters.takeFirst(n) {
			n.deliver(index, -int32(syscall.ECONNRESET))
		}
	}
}

func (nw *network) wakeReaders(s *socket) {
	n := s.node
	if !s.alive() || s.state == sockConnecting {
		return // a connecting socket's waiters proceed in finishConnect
	}
	for s.readers.count > 0 && (s.in.arrived > 0 || s.in.finIn || s.reset || s.rdShut) {
		nw.tryRecv(s, s.readers.takeFirst(n))
	}
}

func (nw *network) wakeWriters(s *socket) {
	n := s.node
	if !s.alive() || s.state == sockConnecting {
		return
	}
	for s.writers.count > 0 && (s.out.unread() < nw.w.cfg.SocketBufBytes || s.reset || s.out.finSent) {
		nw.trySend(s, s.writers.takeFirst(n))
	}
}

func (nw *network) shutdown(s *socket, index int32) {
	n := s.node
	if s.state != sockConnected {
		n.deliver(index, -int32(syscall.ENOTCONN))
		return
	}
	how := n.ops[index].req.Flags
	if how&ShutRead != 0 {
		s.rdShut = true
	}
	if how&ShutWrite != 0 && !s.out.finSent && !s.reset {
		nw.sendSegment(s.out, segFIN, 0)
	}
	n.deliver(index, 0)
	nw.wakeReaders(s)
	nw.wakeWriters(s)
}

// closeSocket releases fd. Operations still waiting on the socket stay in
// flight until canceled, as on io_uring. Closing with unread data, or with
// SO_LINGER set to zero (SetLingerZero), sends a RST, as Linux does;
// otherwise a FIN follows the data.
func (nw *network) closeSocket(n *Node, fd int) {
	s := n.fds[fd].sock
	n.freeFD(fd)
	s.closed = true
	if s.dgram {
		nw.closeDatagram(n, s)
		return
	}
	switch s.state {
	case sockListening:
		delete(n.listeners, s.local.Port())
		for _, pending := range s.backlog {
			nw.abort(pending)
		}
		s.backlog = nil
	case sockConnected, sockConnecting:
		// A connecting socket has a connection once its SYN reached the
		// listener (s.out), though it learns so only later.
		switch {
		case s.out == nil, s.reset:
		case s.in.arrived > 0 || s.lingerZero:
			nw.abort(s)
		case !s.out.finSent:
			nw.sendSegment(s.out, segFIN, 0)
		}
	}
}

// abort resets a connection from s's side: s is done, its peer gets a RST.
func (nw *network) abort(s *socket) {
	if s.reset {
		return
	}
	s.reset = true
	nw.sendSegment(s.out, segRST, 0)
}

// crashNode resets every connection of a crashed node: its peers get a
// RST (the simulator's stand-in for the RST a rebooted host sends when
// their next segment arrives).
func (nw *network) crashNode(n *Node) {
	for fd := range n.fds {
		s := n.fds[fd].sock
		if s == nil {
			continue
		}
		switch s.state {
		case sockConnected, sockConnecting:
			if s.out != nil {
				nw.abort(s)
			}
		case sockListening:
			for _, pending := range s.backlog {
				nw.abort(pending)
			}
		}
	}
}
