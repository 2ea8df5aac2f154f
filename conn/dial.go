package conn

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/ioloop/ioloop"
)

// UnknownNetworkError is the error of a network name Listen and Dial do
// not know, as net.UnknownNetworkError.
type UnknownNetworkError string

// Error names the network.
func (e UnknownNetworkError) Error() string { return "unknown network " + strconv.Quote(string(e)) }

var (
	errUnixOnSimulator = errors.New("unix sockets are not simulated; use tcp")
	errEmptyPath       = errors.New("empty unix socket path")
	errMissingAddress  = errors.New("missing address")
	errNoSuitable      = errors.New("no suitable address found")
	errHostName        = errors.New("Listen takes an IP address, \"localhost\" or an empty host, not a host name")
	errNoResolver      = errors.New("host names need Options.Resolver on the simulator (sim.World.LookupHost)")
)

// AddrError is the error of an address Listen or Dial cannot parse, as
// net.AddrError: Err says what is wrong, Addr is the address.
type AddrError struct {
	Err  string
	Addr string
}

// Error returns "address ADDR: ERR".
func (e *AddrError) Error() string { return "address " + e.Addr + ": " + e.Err }

// dialState is what a Dial keeps until it connects.
type dialState struct {
	host      string
	addrs     []netip.Addr
	next      int
	port      uint16
	path      string // unix
	resolving bool
	lastErr   error
	lastAddr  string
	// Written by the resolving goroutine, read by onResolved (the Post
	// orders them).
	resolved    []netip.Addr
	resolveErr  error
	resolveFunc func(string) ([]netip.Addr, error)
	timeout     time.Duration
	ipNetwork   string
}

// Dial connects to address and serves the connection with h, configured
// by opts. It returns at once: the Conn calls OnOpen when it has
// connected, or OnClose with an *OpError (Op "dial") when it could not,
// after trying every address a host name resolved to, within
// Options.DialTimeout. Writes made before OnOpen are queued and sent once
// connected.
//
// network and address are Listen's, except that an empty host dials the
// local system (127.0.0.1), and host names are allowed: they are
// resolved off the loop (Options.Resolver). "localhost" dials 127.0.0.1
// and then ::1 ("tcp"), without a resolver.
//
// The error Dial returns itself (an *OpError) is for an address it cannot
// parse or a socket it cannot create; then there is no Conn and no
// OnClose.
func Dial(loop *ioloop.Loop, network, address string, opts Options, h Handler) (*Conn, error) {
	if loop == nil || h == nil {
		panic("conn: Dial with a nil *ioloop.Loop or Handler")
	}
	fail := func(err error) (*Conn, error) {
		return nil, &OpError{Op: "dial", Net: network, Addr: address, Err: err}
	}
	set := newSettings(opts)
	c := newConn(loop, h, set, network)
	c.addr = address
	d := &dialState{}
	c.dial = d
	switch network {
	case "unix":
		if loop.Backend() == ioloop.BackendSimulator {
			return fail(errUnixOnSimulator)
		}
		if address == "" {
			return fail(errEmptyPath)
		}
		d.path = address
	case "tcp", "tcp4", "tcp6":
		host, port, err := splitHostPort(address)
		if err != nil {
			return fail(err)
		}
		d.port, d.host = port, host
		switch addrs, err := literalAddrs(network, host, true); {
		case err != nil:
			return fail(err)
		case addrs != nil:
			d.addrs = addrs
		case loop.Backend() == ioloop.BackendSimulator:
			if opts.Resolver == nil {
				return fail(errNoResolver)
			}
			resolved, err := opts.Resolver(host)
			if err != nil {
				return fail(err)
			}
			if d.addrs = filterAddrs(network, resolved); len(d.addrs) == 0 {
				return fail(&AddrError{Err: errNoSuitable.Error(), Addr: host})
			}
		default:
			d.resolving = true
			d.resolveFunc, d.timeout, d.ipNetwork = opts.Resolver, opts.DialTimeout, "ip"+network[3:]
		}
	default:
		return fail(UnknownNetworkError(network))
	}
	if opts.DialTimeout > 0 {
		c.dialDL = deadlineNs(c.nowNs(), int64(opts.DialTimeout))
	}
	if d.resolving {
		c.armTimer()
		go resolve(c, d)
		return c, nil
	}
	if c.dialDL != 0 {
		c.armTimer()
	}
	if err := c.connectNext(); err != nil {
		c.cancelDialTimer()
		return fail(err)
	}
	return c, nil
}

// cancelDialTimer abandons the timer of a Dial that failed before it
// returned (there will be no OnClose): the Conn is simply dropped, and a
// Timeout left pending would fire into it later, so cancel it.
func (c *Conn) cancelDialTimer() {
	c.state = stateClosed
	if c.timerOp.Pending() {
		ioloop.Cancel(c.loop, &c.cancelOp, &c.timerOp, c, (*Conn).onAbandoned)
	}
}

func (c *Conn) onAbandoned(_ *ioloop.Completion, _ error) {}

// resolve runs on a goroutine of its own: it resolves the host name and
// hands the answer to the loop. If the loop is closing the answer is
// dropped; the Conn's timer, which Loop.Close cancels, ends it there.
func resolve(c *Conn, d *dialState) {
	var addrs []netip.Addr
	var err error
	if d.resolveFunc != nil {
		addrs, err = d.resolveFunc(d.host)
	} else {
		ctx := context.Background()
		if d.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d.timeout)
			defer cancel()
		}
		addrs, err = net.DefaultResolver.LookupNetIP(ctx, d.ipNetwork, d.host)
	}
	d.resolved, d.resolveErr = addrs, err
	for {
		switch ioloop.Post(c.loop, c, (*Conn).onResolved) {
		case ioloop.ErrQueueFull:
			time.Sleep(time.Millisecond)
		default: // posted, or the loop is closing
			return
		}
	}
}

func (c *Conn) onResolved() {
	d := c.dial
	if c.state != stateDialing || d == nil || !d.resolving {
		return // the dial timed out, was closed, or the loop is closing
	}
	d.resolving = false
	if d.resolveErr != nil {
		c.teardown(&OpError{Op: "dial", Net: c.network, Addr: c.addr, Err: d.resolveErr})
		return
	}
	if d.addrs = filterAddrs(c.network, d.resolved); len(d.addrs) == 0 {
		c.teardown(&OpError{Op: "dial", Net: c.network, Addr: c.addr, Err: &AddrError{Err: errNoSuitable.Error(), Addr: d.host}})
		return
	}
	if err := c.connectNext(); err != nil {
		c.teardown(&OpError{Op: "dial", Net: c.network, Addr: c.addr, Err: err})
	}
}

// connectNext creates a socket and connects it to the next address; an
// error means no socket could be created for any address left.
func (c *Conn) connectNext() error {
	d := c.dial
	if d.path != "" {
		fd, err := unixSocket()
		if err != nil {
			return syscallError("socket", err)
		}
		c.fd = fd
		d.lastAddr = d.path
		ioloop.ConnectUnix(c.loop, &c.ctlOp, fd, d.path, c, (*Conn).onConnect)
		return nil
	}
	for d.next < len(d.addrs) {
		ap := netip.AddrPortFrom(d.addrs[d.next], d.port)
		d.next++
		fd, err := c.loop.TCPSocket(ap)
		if err != nil {
			d.lastErr, d.lastAddr = syscallError("socket", err), ap.String()
			continue
		}
		c.fd = fd
		d.lastAddr = ap.String()
		ioloop.Connect(c.loop, &c.ctlOp, fd, ap, c, (*Conn).onConnect)
		return nil
	}
	if d.lastErr == nil {
		d.lastErr = &AddrError{Err: errNoSuitable.Error(), Addr: d.host}
	}
	return d.lastErr
}

func (c *Conn) onConnect(_ *ioloop.Completion, err error) {
	if c.state >= stateTearingDown {
		c.teardownStep()
		return
	}
	d := c.dial
	switch {
	case err == nil:
		if c.network != "unix" {
			if err := applySocketOptions(c.loop, c.fd, c.set, true); err != nil {
				c.teardown(&OpError{Op: "dial", Net: c.network, Addr: d.lastAddr, Err: syscallError("setsockopt", err)})
				return
			}
		}
		c.addr = d.lastAddr // the address connected to, for later errors
		c.dial, c.dialDL = nil, 0
		c.open()
	case errors.Is(err, ioloop.ErrCanceled):
		c.teardown(c.loopClosedReason())
	case d.next < len(d.addrs):
		// Try the next address once this socket is closed.
		d.lastErr = syscallError("connect", err)
		ioloop.Close(c.loop, &c.ctlOp, c.fd, c, (*Conn).onRetryClosed)
	default:
		c.teardown(&OpError{Op: "dial", Net: c.network, Addr: d.lastAddr, Err: syscallError("connect", err)})
	}
}

func (c *Conn) onRetryClosed(_ *ioloop.Completion, err error) {
	if errors.Is(err, ioloop.ErrClosed) || errors.Is(err, ioloop.ErrCanceled) {
		closeNow(c.loop, c.fd)
	}
	c.fd = -1
	if c.state >= stateTearingDown {
		c.teardownStep()
		return
	}
	if err := c.connectNext(); err != nil {
		c.teardown(&OpError{Op: "dial", Net: c.network, Addr: c.dial.lastAddr, Err: err})
	}
}

// splitHostPort splits "host:port" and parses a numeric port.
func splitHostPort(address string) (host string, port uint16, err error) {
	if address == "" {
		return "", 0, errMissingAddress
	}
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", 0, &AddrError{Err: ae.Err, Addr: ae.Addr}
		}
		return "", 0, err
	}
	p, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return "", 0, &AddrError{Err: "invalid port", Addr: address}
	}
	return host, uint16(p), nil
}

// literalAddrs returns the addresses of a host that needs no resolver: an
// IP literal, "localhost", or empty (for Dial, the local system). It
// returns nil, nil for a host name.
func literalAddrs(network, host string, dialing bool) ([]netip.Addr, error) {
	switch host {
	case "":
		if network == "tcp6" {
			return []netip.Addr{netip.IPv6Loopback()}, nil
		}
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}, nil
	case "localhost":
		v4, v6 := netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()
		switch network {
		case "tcp4":
			return []netip.Addr{v4}, nil
		case "tcp6":
			return []netip.Addr{v6}, nil
		}
		if dialing {
			return []netip.Addr{v4, v6}, nil
		}
		return []netip.Addr{v4}, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, nil
	}
	if addrs := filterAddrs(network, []netip.Addr{ip}); len(addrs) > 0 {
		return addrs, nil
	}
	return nil, &AddrError{Err: "address family does not match network " + network, Addr: host}
}

// filterAddrs keeps the addresses network can reach, IPv4-mapped IPv6
// addresses unmapped.
func filterAddrs(network string, addrs []netip.Addr) []netip.Addr {
	var kept []netip.Addr
	for _, a := range addrs {
		if a.Is4In6() {
			a = a.Unmap()
		}
		if (network == "tcp4" && !a.Is4()) || (network == "tcp6" && !a.Is6()) {
			continue
		}
		kept = append(kept, a)
	}
	return kept
}

// listenAddr resolves a listening address without a resolver.
func listenAddr(loop *ioloop.Loop, network, address string) (netip.AddrPort, error) {
	host, port, err := splitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if host == "" {
		ip := netip.IPv6Unspecified()
		if network == "tcp4" || (network == "tcp" && loop.Backend() == ioloop.BackendSimulator) {
			ip = netip.IPv4Unspecified()
		}
		return netip.AddrPortFrom(ip, port), nil
	}
	addrs, err := literalAddrs(network, host, false)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if addrs == nil {
		return netip.AddrPort{}, &AddrError{Err: errHostName.Error(), Addr: host}
	}
	return netip.AddrPortFrom(addrs[0], port), nil
}
