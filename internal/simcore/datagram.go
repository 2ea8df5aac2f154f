package simcore

import (
	"net/netip"
	"slices"
	"syscall"
)

// Datagram sockets (UDP). A datagram is sent whole, never blocks the
// sender, and travels alone: after a random latency it lands in the queue
// of the socket bound to its destination, or is lost. Datagrams of one
// socket arrive in the order sent unless a fault says otherwise. Faults,
// each drawn per datagram from the world's seeded sequence and recorded in
// the trace:
//
//   - DatagramLoss: the datagram vanishes ("fault datagram-loss").
//   - DatagramDuplicate: it arrives twice, each copy with its own latency
//     ("fault datagram-dup").
//   - DatagramReorder: it is held back by up to two extra maximal
//     latencies, outside its socket's order, so later datagrams overtake it
//     ("fault datagram-reorder").
//   - Partitions (random or by hand) drop what crosses them at arrival
//     ("datagram-partitioned"): UDP does not retransmit.
//
// And as a kernel does: a datagram that would take the receiving socket's
// queue past Network.BufferBytes is dropped ("datagram-overflow"), each
// datagram counting its payload plus datagramOverheadBytes (the kernel
// charges a buffer's true size, so even empty datagrams fill a queue); a
// datagram to a port nobody bound is dropped and, if its sender is a
// connected socket, answered by an ICMP port unreachable that makes the
// sender's next operation fail with ECONNREFUSED.

// datagramOverheadBytes is what a queued datagram costs beyond its payload.
const datagramOverheadBytes = 256

// Largest payloads: 65535 minus the IP and UDP headers (IPv6's payload
// length excludes its own header).
const (
	maxDatagram4 = 65535 - 20 - 8
	maxDatagram6 = 65535 - 8
)

// MsgTrunc is the flag FillMessage reports for a datagram longer than the
// receive's buffers (MSG_TRUNC).
const MsgTrunc uint32 = 1

// datagram is one datagram in flight or queued. The network recycles them
// (network.spare), so that steady-state datagram traffic allocates nothing.
type datagram struct {
	from, to netip.AddrPort
	data     []byte
	sender   *socket // for the ICMP answer of an unbound port
	srcNode  *Node
	icmp     bool // an ICMP port unreachable travelling back to sender
}

// dgramState is the datagram part of a socket.
type dgramState struct {
	bound bool
	queue []*datagram // arrived, not read: queue[head:]
	head  int
	bytes int // queued payload plus overhead, against the bound
	// lastNs is the arrival time of the latest in-order datagram sent
	// (keeps a socket's datagrams in order).
	lastNs int64
	// softErr is the ICMP error waiting for the next operation.
	softErr syscall.Errno
}

// UDPSocket opens an unbound datagram socket of the family of v6.
func (n *Node) UDPSocket(v6 bool) int {
	fd := n.Socket()
	s := n.fds[fd].sock
	s.dgram, s.v6 = true, v6
	return fd
}

// ListenUDP opens a datagram socket bound to addr (port 0: an ephemeral
// port) and returns it with the address it is bound to.
func (n *Node) ListenUDP(addr netip.AddrPort) (int, netip.AddrPort, syscall.Errno) {
	ip := addr.Addr().Unmap()
	if !ip.IsLoopback() && !ip.IsUnspecified() && ip != n.addr {
		return -1, netip.AddrPort{}, syscall.EADDRNOTAVAIL
	}
	port := addr.Port()
	if port == 0 {
		port = n.udpEphemeralPort()
	} else if _, taken := n.udpPorts[port]; taken {
		return -1, netip.AddrPort{}, syscall.EADDRINUSE
	}
	fd := n.UDPSocket(addr.Addr().Is6() && !addr.Addr().Is4In6())
	s := n.fds[fd].sock
	s.local = netip.AddrPortFrom(addr.Addr(), port)
	s.dg.bound = true
	n.udpPorts[port] = s
	return fd, s.local, 0
}

func (n *Node) udpEphemeralPort() uint16 {
	for {
		port := n.nextPort
		n.nextPort++
		if n.nextPort == 0 {
			n.nextPort = 40000
		}
		if _, taken := n.udpPorts[port]; !taken {
			return port
		}
	}
}

// autobind binds an unbound socket to an ephemeral port, as a first send
// or connect does.
func (n *Node) autobind(s *socket) {
	if s.dg.bound {
		return
	}
	port := n.udpEphemeralPort()
	s.local = netip.AddrPortFrom(netip.IPv4Unspecified(), port)
	if s.v6 {
		s.local = netip.AddrPortFrom(netip.IPv6Unspecified(), port)
	}
	s.dg.bound = true
	n.udpPorts[port] = s
}

// startDatagram begins an operation on a datagram socket.
func (nw *network) startDatagram(n *Node, s *socket, index int32) {
	req := &n.ops[index].req
	switch req.Kind {
	case KindRecv, KindRead, KindReadv, KindRecvMsg:
		nw.tryRecvDatagram(s, index)
	case KindSend, KindWrite, KindWritev, KindSendMsg:
		nw.sendDatagram(n, s, index)
	case KindConnect:
		addr := req.Addr
		if !addr.IsValid() || addr.Port() == 0 {
			n.deliver(index, -int32(syscall.EINVAL))
			return
		}
		if errno := familyErrno(s, addr); errno != 0 {
			n.deliver(index, -int32(errno))
			return
		}
		n.autobind(s)
		s.remote, s.state = addr, sockConnected
		n.deliver(index, 0)
	case KindAccept:
		n.deliver(index, -int32(syscall.EOPNOTSUPP))
	case KindShutdown:
		if s.state != sockConnected {
			n.deliver(index, -int32(syscall.ENOTCONN))
			return
		}
		if req.Flags&ShutRead != 0 {
			s.rdShut = true
		}
		n.deliver(index, 0)
		nw.wakeDatagramReaders(s)
	default:
		n.deliver(index, -int32(syscall.EOPNOTSUPP))
	}
}

// familyErrno is why s cannot send to addr: an IPv4 socket has no IPv6
// route (EAFNOSUPPORT, as Linux's udp_sendmsg answers); an IPv6 socket
// takes either family.
func familyErrno(s *socket, addr netip.AddrPort) syscall.Errno {
	if !s.v6 && addr.Addr().Is6() && !addr.Addr().Is4In6() {
		return syscall.EAFNOSUPPORT
	}
	return 0
}

// datagramLen is the bytes a datagram request's buffers hold.
func datagramLen(req *Request) int {
	if req.Bufs == nil {
		return len(req.Buf)
	}
	total := 0
	for _, b := range req.Bufs {
		total += len(b)
	}
	return total
}

func (nw *network) sendDatagram(n *Node, s *socket, index int32) {
	w := nw.w
	req := &n.ops[index].req
	if errno := s.dg.softErr; errno != 0 {
		s.dg.softErr = 0
		n.deliver(index, -int32(errno))
		return
	}
	to := req.Addr
	if !to.IsValid() || req.Kind != KindSendMsg {
		if s.state != sockConnected {
			n.deliver(index, -int32(syscall.EDESTADDRREQ))
			return
		}
		to = s.remote
	}
	if errno := familyErrno(s, to); errno != 0 {
		n.deliver(index, -int32(errno))
		return
	}
	size := datagramLen(req)
	limit := maxDatagram4
	if to.Addr().Is6() && !to.Addr().Is4In6() {
		limit = maxDatagram6
	}
	switch {
	case len(req.Bufs) > maxIovecs:
		n.deliver(index, -int32(syscall.EMSGSIZE))
		return
	case size > limit:
		n.deliver(index, -int32(syscall.EMSGSIZE))
		return
	case to.Port() == 0:
		n.deliver(index, -int32(syscall.EINVAL))
		return
	}
	n.autobind(s)
	dg := nw.newDatagram(size)
	if req.Bufs == nil {
		copy(dg.data, req.Buf)
	} else {
		count := 0
		for _, b := range req.Bufs {
			count += copy(dg.data[count:], b)
		}
	}
	dg.from, dg.to, dg.sender, dg.srcNode = nw.sourceAddr(n, s, to), to, s, n
	n.deliver(index, int32(size))
	if w.rand.Chance(w.cfg.Faults.DatagramLoss) {
		w.trace.note(w.nowNs, n, "fault", "datagram-loss")
		nw.recycle(dg)
		return
	}
	if w.rand.Chance(w.cfg.Faults.DatagramDuplicate) {
		w.trace.note(w.nowNs, n, "fault", "datagram-dup")
		twin := nw.newDatagram(size)
		copy(twin.data, dg.data)
		twin.from, twin.to, twin.sender, twin.srcNode = dg.from, dg.to, dg.sender, dg.srcNode
		w.schedule(event{atNs: w.nowNs + nw.latency(), kind: evDatagram, dg: twin})
	}
	atNs := w.nowNs + nw.latency()
	if w.rand.Chance(w.cfg.Faults.DatagramReorder) {
		w.trace.note(w.nowNs, n, "fault", "datagram-reorder")
		maxNs := int64(w.cfg.NetLatency.Max)
		atNs += maxNs + w.rand.Between(0, 2*w.cfg.NetLatency.Max)
	} else {
		atNs = max(atNs, s.dg.lastNs)
		s.dg.lastNs = atNs
	}
	w.schedule(event{atNs: atNs, kind: evDatagram, dg: dg})
}

// sourceAddr is the sender's address a datagram from s to `to` carries:
// the bound address, or for a socket bound to no particular address the
// loopback address of the destination's family when it is a loopback
// address, the node's address otherwise.
func (nw *network) sourceAddr(n *Node, s *socket, to netip.AddrPort) netip.AddrPort {
	ip := s.local.Addr()
	if ip.IsUnspecified() {
		switch dest := to.Addr(); {
		case dest.Is6() && dest.IsLoopback():
			ip = netip.IPv6Loopback()
		case dest.Unmap().IsLoopback():
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		default:
			ip = n.addr
		}
	}
	return netip.AddrPortFrom(ip.Unmap(), s.local.Port())
}

// newDatagram takes a recycled datagram (or makes one) with size bytes of
// data.
func (nw *network) newDatagram(size int) *datagram {
	var dg *datagram
	if last := len(nw.spare) - 1; last >= 0 {
		dg = nw.spare[last]
		nw.spare[last] = nil
		nw.spare = nw.spare[:last]
	} else {
		dg = new(datagram)
	}
	dg.data = slices.Grow(dg.data[:0], size)[:size]
	return dg
}

func (nw *network) recycle(dg *datagram) {
	data := dg.data[:0]
	*dg = datagram{data: data}
	nw.spare = append(nw.spare, dg)
}

// arriveDatagram lands a datagram (or an ICMP answer) at its destination
// and recycles it unless a queue (or the way back) keeps it.
func (nw *network) arriveDatagram(ev *event) {
	if !nw.land(ev.dg) {
		nw.recycle(ev.dg)
	}
}

// land delivers dg and reports whether it is still in use.
func (nw *network) land(dg *datagram) bool {
	w := nw.w
	if dg.icmp {
		if s := dg.sender; s.alive() && !s.closed && s.state == sockConnected {
			s.dg.softErr = syscall.ECONNREFUSED
			nw.wakeDatagramReaders(s)
		}
		return false
	}
	target := nw.resolve(dg.srcNode, dg.to.Addr())
	if target == nil || target.crashed {
		return false
	}
	if nw.blocked(dg.srcNode, target) {
		w.trace.note(w.nowNs, dg.srcNode, "datagram-partitioned", target.name)
		return false
	}
	s := target.udpPorts[dg.to.Port()]
	if s == nil || !s.alive() || s.closed || !acceptsDestination(s, dg.to.Addr()) {
		if sender := dg.sender; sender.state == sockConnected && sender.alive() {
			// ICMP port unreachable, back to the sender a latency later.
			dg.icmp = true
			w.schedule(event{atNs: w.nowNs + nw.latency(), kind: evDatagram, dg: dg})
			return true
		}
		return false
	}
	if s.state == sockConnected && (s.remote.Addr().Unmap() != dg.from.Addr().Unmap() || s.remote.Port() != dg.from.Port()) {
		return false // a connected socket takes datagrams from its peer only
	}
	cost := len(dg.data) + datagramOverheadBytes
	if s.dg.bytes+cost > w.cfg.SocketBufBytes {
		w.trace.note(w.nowNs, target, "datagram-overflow", "")
		return false
	}
	if s.v6 && dg.from.Addr().Is4() {
		dg.from = netip.AddrPortFrom(netip.AddrFrom16(dg.from.Addr().As16()), dg.from.Port())
	}
	s.dg.bytes += cost
	s.dg.queue = append(s.dg.queue, dg)
	nw.wakeDatagramReaders(s)
	return true
}

// acceptsDestination reports whether a socket bound to s.local receives a
// datagram addressed to dest.
func acceptsDestination(s *socket, dest netip.Addr) bool {
	bound := s.local.Addr()
	switch {
	case !s.v6 && dest.Is6() && !dest.Is4In6():
		return false
	case bound.IsUnspecified():
		return true
	}
	return bound.Unmap() == dest.Unmap() || (bound.IsLoopback() && dest.Unmap().IsLoopback() && bound.Is4() == dest.Unmap().Is4())
}

func (nw *network) tryRecvDatagram(s *socket, index int32) {
	n := s.node
	req := &n.ops[index].req
	if errno := s.dg.softErr; errno != 0 {
		s.dg.softErr = 0
		n.deliver(index, -int32(errno))
		return
	}
	if len(req.Bufs) > maxIovecs {
		n.deliver(index, -int32(syscall.EMSGSIZE))
		return
	}
	if s.dg.head == len(s.dg.queue) {
		if s.rdShut {
			n.deliver(index, 0)
			return
		}
		n.park(&s.readers, index)
		return
	}
	dg := s.dg.queue[s.dg.head]
	s.dg.queue[s.dg.head] = nil
	s.dg.head++
	if s.dg.head == len(s.dg.queue) {
		s.dg.queue, s.dg.head = s.dg.queue[:0], 0
	}
	s.dg.bytes -= len(dg.data) + datagramOverheadBytes
	var count int
	if req.Bufs == nil {
		count = copy(req.Buf, dg.data)
	} else {
		for _, b := range req.Bufs {
			count += copy(b, dg.data[count:])
		}
	}
	var flags uint32
	if count < len(dg.data) {
		flags = MsgTrunc
	}
	if n.host != nil {
		n.host.FillMessage(req.Token, dg.from, flags)
	}
	nw.recycle(dg)
	n.deliver(index, int32(count))
}

func (nw *network) wakeDatagramReaders(s *socket) {
	n := s.node
	if !s.alive() {
		return
	}
	for s.readers.count > 0 && (s.dg.head < len(s.dg.queue) || s.dg.softErr != 0 || s.rdShut) {
		nw.tryRecvDatagram(s, s.readers.takeFirst(n))
	}
}

// closeDatagram releases a datagram socket's port and what it queued.
func (nw *network) closeDatagram(n *Node, s *socket) {
	if s.dg.bound && n.udpPorts[s.local.Port()] == s {
		delete(n.udpPorts, s.local.Port())
	}
	for i := s.dg.head; i < len(s.dg.queue); i++ {
		nw.recycle(s.dg.queue[i])
		s.dg.queue[i] = nil
	}
	s.dg.queue, s.dg.head, s.dg.bytes = nil, 0, 0
}
