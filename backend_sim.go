package ioloop

import (
	"errors"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"github.com/ioloop/ioloop/internal/simcore"
)

// simBackend serves a loop's operations from the deterministic simulator
// (internal/simcore) instead of the kernel. Package sim creates such loops,
// one per simulated node. Like the readiness backends it starts submitted
// operations in order at the next poll (or flush), so that the order of
// results matches theirs; unlike them it never blocks: waiting means
// advancing the world's virtual clock to its next event.
type simBackend struct {
	noDoorbells
	emulatedChains
	loop  *Loop
	world *simcore.World
	node  *simcore.Node
	// incarnation is the node's life this loop belongs to; after a crash
	// the loop is dead and any use of it panics.
	incarnation uint32
	epochNs     int64
	queued      fifo
	req         simcore.Request // reused: building a request allocates nothing

	// queuedSeen is queued's high-water mark, polls counts the world's
	// polls (Stats).
	queuedSeen overflowWatermark
	polls      uint64
}

func init() {
	simcore.NewLoop = func(w *simcore.World, n *simcore.Node) any { return newSimLoop(w, n) }
}

// newSimLoop creates a loop for node n of world w and attaches it.
func newSimLoop(w *simcore.World, n *simcore.Node) *Loop {
	l := newLoop(Options{})
	b := &simBackend{loop: l, world: w, node: n, incarnation: n.Incarnation(), epochNs: w.NowNs()}
	l.backend, l.backendKind = b, BackendSimulator
	l.backendTimers = true // the world must see every node's deadlines
	n.Attach(b)
	return l
}

// alive panics when the loop's node crashed: the program that owned the
// loop is dead, and a new incarnation has its own loop.
func (b *simBackend) alive() {
	if b.node.Incarnation() != b.incarnation || b.node.Crashed() {
		panic("ioloop: loop of simulated node " + b.node.Name() + " used after the node crashed; use the Loop the restarted node was given")
	}
}

func (b *simBackend) submit(c *Completion) {
	b.alive()
	c.state = stateInFlight
	b.queued.push(c)
}

func (b *simBackend) resubmit(c *Completion) { b.queued.push(c) }

// unqueue never takes an operation back: submitted operations count as in
// flight, as on the readiness backends.
func (b *simBackend) unqueue(*Completion) bool { return false }

func (b *simBackend) flush() { b.start() }

func (b *simBackend) poll(timeoutNs int64) error {
	b.alive()
	b.start()
	if b.loop.callbacksReady() || b.loop.inboxHasWork() {
		timeoutNs = 0
	}
	b.polls++
	err := b.world.Poll(b.node, timeoutNs)
	if err == simcore.ErrDeadlock && timeoutNs > 0 && b.loop.pending == 0 {
		// A RunFor past the end of virtual time, and nothing is left
		// to happen: with nothing pending either, the run is over.
		return errSimRunOver
	}
	return err
}

// errSimRunOver ends a RunFor whose deadline virtual time never reaches
// (see simBackend.poll) with a nil error.
var errSimRunOver = errors.New("ioloop: internal: simulated RunFor has nothing left to wait for")

func (b *simBackend) cancelAll() {
	l := b.loop
	for c := b.queued.pop(); c != nil; c = b.queued.pop() {
		l.completeWith(c, c.progress(), codeCanceled)
	}
	b.node.CancelAll()
}

// abandon implements backend.abandon: an operation not started yet is
// taken back; one started is canceled in the world, which completes it
// with ECANCELED (or answers EALREADY for a disk operation under way).
func (b *simBackend) abandon(c *Completion) errorCode {
	if b.queued.remove(c) {
		b.loop.completeWith(c, c.progress(), codeCanceled)
		return codeNone
	}
	if c.token == 0 {
		return codeNotFound
	}
	switch res := b.node.Cancel(c.token); {
	case res == 0:
		return codeNone
	case res == -int32(syscall.ENOENT):
		return codeNotFound
	default:
		return errorCode(-res)
	}
}

// backendStats implements statsBackend. The world keeps this loop's
// timers: the pending ones are the Timeouts and LinkTimeouts it holds
// (counted by walking the in-flight table: Stats is not a hot path).
func (b *simBackend) backendStats() backendStats {
	s := b.queuedSeen.stats(b.polls, b.queued.size)
	for i := range b.loop.inflight.slots {
		if c := b.loop.inflight.slots[i].completion; c != nil && (c.op == opTimeout || c.op == opLinkTimeout) {
			s.timersPending++
		}
	}
	return s
}

func (b *simBackend) close() error {
	b.node.Detach()
	return nil
}

// start hands the queued operations to the simulator, in submission order.
func (b *simBackend) start() {
	b.queuedSeen.observe(b.queued.size)
	for c := b.queued.pop(); c != nil; c = b.queued.pop() {
		b.startOne(c)
	}
}

// positioned marks the operations that take an offset.
var positioned = [256]bool{opRead: true, opWrite: true, opReadv: true, opWritev: true}

func (b *simBackend) startOne(c *Completion) {
	l := b.loop
	if c.op == opCancel {
		// The target was submitted before the Cancel, so it has started.
		res := -int32(syscall.ENOENT)
		if t := c.cancelTarget(); canceledInThisPass(l, t) {
			res = 0 // another Cancel of this pass got there first, as io_uring answers
		} else if t.state == stateInFlight && t.loop == l && t.token != 0 {
			res = b.node.Cancel(t.token)
		}
		l.complete(c, res)
		return
	}
	if c.token == 0 {
		l.issueToken(c)
	}
	if positioned[c.op] && c.io.offset > 0 {
		if _, errno := b.node.LocalAddr(int(c.fd)); errno == 0 {
			// A socket has no position: any offset but 0 and -1 is ESPIPE,
			// as on io_uring (ops.go, Read).
			l.complete(c, -int32(syscall.ESPIPE))
			return
		}
	}
	req := &b.req
	*req = simcore.Request{Token: c.token, FD: int(c.fd), Offset: c.io.offset}
	switch c.op {
	case opNop:
		req.Kind = simcore.KindNop
	case opTimeout, opLinkTimeout:
		// A LinkTimeout is started only by its emulated chain (chain.go),
		// as its operation starts: until it fires, it is a timer.
		req.Kind, req.TimeoutNs = simcore.KindTimeout, c.durationNs()
	case opAccept:
		req.Kind = simcore.KindAccept
	case opConnect:
		addr, ok := decodeInetSockaddr(&c.rare.sockaddr)
		if !ok {
			l.complete(c, -int32(syscall.EAFNOSUPPORT)) // unix sockets are not simulated
			return
		}
		req.Kind, req.Addr = simcore.KindConnect, addr
	case opRecv:
		req.Kind, req.Buf = simcore.KindRecv, c.io.buf
	case opRecvPooled, opRecvMultishot, opRecvFromMultishot:
		// The simulator's receive copies into the buffer it is given, so
		// the buffer is taken at submission (the kernel backends take one
		// when data arrives): on the simulator an idle pooled receive holds
		// a buffer, which changes who waits when a pool runs out, not what
		// any receive gets. completePooled gives it back if unused.
		id, ok := c.pool().take()
		if !ok {
			l.complete(c, -int32(syscall.ENOBUFS))
			return
		}
		c.index = int32(id)
		req.Kind, req.Buf = simcore.KindRecv, c.pool().buffer(id)
		if c.op == opRecvFromMultishot {
			c.rearmReceive()
			req.Kind, req.Buf = simcore.KindRecvMsg, req.Buf[datagramPayloadOffset:]
		}
	case opAcceptMultishot:
		req.Kind = simcore.KindAccept
	case opSendTo, opSendMsg:
		if len(c.rare.oob) > 0 {
			l.complete(c, -int32(syscall.EOPNOTSUPP)) // no control data in the simulated network
			return
		}
		req.Kind, req.Buf, req.Bufs = simcore.KindSendMsg, c.io.buf, c.rare.bufs
		if c.rare.msg.Name != nil {
			req.Addr = addrPortFromRaw(&c.rare.sockaddr, c.rare.msg.Namelen)
		}
	case opRecvFrom, opRecvMsg:
		req.Kind, req.Buf, req.Bufs = simcore.KindRecvMsg, c.io.buf, c.rare.bufs
	case opSend:
		req.Kind, req.Buf = simcore.KindSend, c.io.buf[c.sent():]
	case opRead:
		req.Kind, req.Buf = simcore.KindRead, c.io.buf
	case opWrite:
		req.Kind, req.Buf, req.Flags = simcore.KindWrite, c.io.buf, simDurability(c.flags)
	case opReadv:
		req.Kind, req.Bufs = simcore.KindReadv, c.rare.bufs
	case opWritev:
		req.Kind, req.Bufs, req.Flags = simcore.KindWritev, c.rare.bufs, simDurability(c.flags)
	case opFsync:
		req.Kind = simcore.KindFsync
		if c.flags&fsyncDatasync != 0 {
			req.Flags = simcore.FsyncData
		}
	case opClose:
		req.Kind = simcore.KindClose
	case opOpenAt:
		req.Kind, req.Path, req.Flags = simcore.KindOpenAt, c.rare.pathNUL[:len(c.rare.pathNUL)-1], simOpenFlags(c.flags)
		req.FD, req.Mode = simDirFD(c.fd), c.rare.mode
	case opStatx:
		req.Kind, req.Path, req.Flags = simcore.KindStatx, c.rare.pathNUL[:len(c.rare.pathNUL)-1], simStatFlags(c.flags)
		req.FD = simDirFD(c.fd)
	case opShutdown:
		req.Kind = simcore.KindShutdown
		switch c.flags {
		case sysSHUT_RD:
			req.Flags = simcore.ShutRead
		case sysSHUT_WR:
			req.Flags = simcore.ShutWrite
		case sysSHUT_RDWR:
			req.Flags = simcore.ShutRead | simcore.ShutWrite
		default:
			l.complete(c, -int32(syscall.EINVAL))
			return
		}
	case opFallocate:
		req.Kind, req.Mode, req.Length = simcore.KindFallocate, c.rare.mode, c.rare.lengthBytes
	case opFtruncate:
		req.Kind, req.Length = simcore.KindFtruncate, c.rare.lengthBytes
	case opFadvise:
		req.Kind, req.Flags, req.Length = simcore.KindFadvise, c.flags, c.rare.lengthBytes
	case opSyncFileRange:
		req.Kind, req.Flags, req.Length = simcore.KindSyncFileRange, c.flags, c.rare.lengthBytes
	case opMkdirat:
		req.Kind, req.Path, req.Mode = simcore.KindMkdirat, c.rare.pathNUL[:len(c.rare.pathNUL)-1], c.rare.mode
		req.FD = simDirFD(c.fd)
	case opUnlinkat:
		req.Kind, req.Path = simcore.KindUnlinkat, c.rare.pathNUL[:len(c.rare.pathNUL)-1]
		req.FD, req.Flags = simDirFD(c.fd), simAtFlags(c.flags, sysAT_REMOVEDIR, simcore.UnlinkRemoveDir)
	case opRenameat, opLinkat, opSymlinkat:
		req.Path, req.Path2 = c.rare.pathNUL[:len(c.rare.pathNUL)-1], c.rare.path2NUL[:len(c.rare.path2NUL)-1]
		req.FD, req.FD2 = simDirFD(c.fd), simDirFD(c.rare.dirFD2)
		switch c.op {
		case opRenameat:
			// RenameNoReplace and RenameExchange are the simulator's own
			// values (Linux's).
			req.Kind, req.Flags = simcore.KindRenameat, c.flags
		case opLinkat:
			req.Kind, req.Flags = simcore.KindLinkat, simAtFlags(c.flags, sysAT_SYMLINK_FOLLOW, simcore.LinkFollow)
		default:
			req.Kind = simcore.KindSymlinkat
		}
	default:
		panic("ioloop: internal error: operation " + c.op.String() + " reached the simulator")
	}
	b.node.Submit(req)
	*req = simcore.Request{} // drop the references to the caller's buffers
}

func simDirFD(fd int32) int {
	if int(fd) == sysAT_FDCWD {
		return simcore.AtCWD
	}
	return int(fd)
}

// simDurability translates a write's Durability (0: a plain write).
func simDurability(flags uint32) uint32 {
	switch Durability(flags) {
	case DataSync:
		return simcore.WriteDataSync
	case FileSync:
		return simcore.WriteFileSync
	}
	return 0
}

// simAtFlags translates the one AT_* flag an operation takes (its value
// differs between systems) into the simulator's bit; any other bit is
// kept, out of the simulator's range, so that it fails with EINVAL as the
// kernel fails unknown flags.
func simAtFlags(flags uint32, osFlag int, simFlag uint32) uint32 {
	out := flags &^ uint32(osFlag)
	if out != 0 {
		out |= 1 << 31
	}
	if flags&uint32(osFlag) != 0 {
		out |= simFlag
	}
	return out
}

// accessModeMask is O_ACCMODE: O_RDONLY, O_WRONLY and O_RDWR are 0, 1 and
// 2 on every system this package supports.
const accessModeMask = 3

func simOpenFlags(flags uint32) uint32 {
	var out uint32
	switch flags & accessModeMask {
	case sysO_RDONLY:
		out = simcore.OpenRead
	case sysO_WRONLY:
		out = simcore.OpenWrite
	default:
		out = simcore.OpenRead | simcore.OpenWrite
	}
	for _, pair := range [...][2]uint32{{sysO_CREAT, simcore.OpenCreate}, {sysO_EXCL, simcore.OpenExclusive},
		{sysO_TRUNC, simcore.OpenTruncate}, {sysO_APPEND, simcore.OpenAppend},
		{sysO_DIRECTORY, simcore.OpenDirectory}, {sysO_NOFOLLOW, simcore.OpenNoFollow}} {
		if flags&pair[0] != 0 {
			out |= pair[1]
		}
	}
	return out
}

// decodeInetSockaddr reads back what encodeInetSockaddr wrote.
func decodeInetSockaddr(raw *sysRawSockaddrAny) (netip.AddrPort, bool) {
	switch raw.Addr.Family {
	case sysAF_INET:
		sa := (*sysRawSockaddrInet4)(unsafe.Pointer(raw))
		port := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(port[0])<<8|uint16(port[1])), true
	case sysAF_INET6:
		sa := (*sysRawSockaddrInet6)(unsafe.Pointer(raw))
		port := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(port[0])<<8|uint16(port[1])), true
	}
	return netip.AddrPort{}, false
}

// Complete implements simcore.Host.
func (b *simBackend) Complete(token uint64, res int32) {
	c := b.loop.lookupToken(token)
	if c == nil {
		panic("ioloop: internal error: the simulator completed an unknown token")
	}
	if pooledOps[c.op] || c.op == opAcceptMultishot {
		if b.completePooled(c, res) {
			return
		}
	}
	if res == -int32(syscall.EBADF) && c.fd >= 0 && isKernelDescriptor(int(c.fd)) {
		b.loop.completeWith(c, c.progress(), codeForeignFD)
		return
	}
	b.loop.complete(c, res)
}

// completePooled handles a pooled or multishot operation's result: the
// buffer taken at submission is filled or given back, and a multishot's
// success becomes a shot, the operation being submitted again. It reports
// whether it dealt with res; otherwise res is the operation's final
// result.
func (b *simBackend) completePooled(c *Completion, res int32) bool {
	l := b.loop
	if c.op != opAcceptMultishot {
		id := uint16(c.index)
		datagram := c.op == opRecvFromMultishot
		if res < 0 || res == 0 && !datagram { // an error, or a stream's end
			c.pool().giveBack(id)
			c.index = -1
			return false
		}
		if datagram {
			c.writeDatagramHeader(c.pool().buffer(id), int(res))
		}
		c.pool().fill(id)
		c.index = -1
		if c.op == opRecvPooled {
			c.setDelivered(int32(id))
			return false
		}
		l.deliverShot(c, res, int32(id))
	} else {
		if res < 0 {
			return false
		}
		l.deliverShot(c, res, -1)
	}
	if l.isClosing() {
		l.completeWith(c, 0, codeCanceled)
		return true
	}
	b.resubmit(c)
	return true
}

// FillStat implements simcore.Host.
func (b *simBackend) FillStat(token uint64, st *simcore.Stat) {
	if c := b.loop.lookupToken(token); c != nil && c.rare != nil && c.rare.statx != nil {
		fillSimStat(c.rare.statx, st)
	}
}

// FillMessage implements simcore.Host: the sender and flags of a
// datagram receive go where the kernel would write them, the msghdr the
// callback reads (ops_udp.go).
func (b *simBackend) FillMessage(token uint64, from netip.AddrPort, flags uint32) {
	c := b.loop.lookupToken(token)
	if c == nil || (c.op != opRecvFrom && c.op != opRecvMsg && c.op != opRecvFromMultishot) {
		return // a plain Recv on a datagram socket: nowhere to put them
	}
	msg := &c.rare.msg
	msg.Namelen, _ = encodeInetSockaddr(from, &c.rare.sockaddr)
	msg.SetControllen(0)
	msg.Flags = 0
	if flags&simcore.MsgTrunc != 0 {
		msg.Flags = sysMSG_TRUNC
	}
}

// Ready implements simcore.Host.
func (b *simBackend) Ready() bool {
	return b.loop.callbacksReady() || !b.queued.empty() || b.loop.inboxHasDeliveries()
}

// RunReady implements simcore.Host: another node's loop is waiting, and
// this loop's callbacks run meanwhile (the world is one goroutine).
func (b *simBackend) RunReady() { b.loop.runNested("the simulated world") }

// nowNs implements backend: the world's virtual clock, from the loop's
// creation.
func (b *simBackend) nowNs() int64 { return b.world.NowNs() - b.epochNs }

// now implements backend: the virtual clock as a wall clock, from
// simcore.Epoch (2000-01-01 00:00:00 UTC).
func (b *simBackend) now() time.Time { return simcore.Epoch.Add(time.Duration(b.world.NowNs())) }

func (b *simBackend) listenTCP(addr netip.AddrPort, opts ListenOptions) (int, netip.AddrPort, error) {
	if !addr.IsValid() {
		return -1, netip.AddrPort{}, syscall.EINVAL
	}
	fd, bound, errno := b.node.Listen(addr, opts.Backlog)
	if errno != 0 {
		return -1, netip.AddrPort{}, errno
	}
	return fd, bound, nil
}

func (b *simBackend) tcpSocket(addr netip.AddrPort) (int, error) {
	if !addr.IsValid() {
		return -1, syscall.EINVAL
	}
	return b.node.Socket(), nil
}

func (b *simBackend) listenUDP(addr netip.AddrPort, _ UDPOptions) (int, netip.AddrPort, error) {
	if !addr.IsValid() {
		return -1, netip.AddrPort{}, syscall.EINVAL
	}
	fd, bound, errno := b.node.ListenUDP(addr)
	if errno != 0 {
		return -1, netip.AddrPort{}, errno
	}
	return fd, bound, nil
}

func (b *simBackend) udpSocket(addr netip.AddrPort) (int, error) {
	if !addr.IsValid() {
		return -1, syscall.EINVAL
	}
	return b.node.UDPSocket(addr.Addr().Is6() && !addr.Addr().Is4In6()), nil
}

func (b *simBackend) localAddr(fd int) (netip.AddrPort, error) {
	return errnoResult(b.node.LocalAddr(fd))
}

func (b *simBackend) remoteAddr(fd int) (netip.AddrPort, error) {
	return errnoResult(b.node.RemoteAddr(fd))
}

// errnoResult turns the simulator's errno into an error value.
func errnoResult(addr netip.AddrPort, errno syscall.Errno) (netip.AddrPort, error) {
	if errno != 0 {
		return addr, errno
	}
	return addr, nil
}

// isKernelDescriptor reports whether fd is open in this process, which
// for a descriptor the simulator does not know means the program handed a
// simulated loop a real socket or file. Asked only on the EBADF path.
func isKernelDescriptor(fd int) bool {
	_, err := sysFcntlGetfd(fd)
	return err == nil
}
