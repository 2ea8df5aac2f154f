package netconn

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/ioloop/ioloop"
)

// Listen listens on the TCP address address ("127.0.0.1:8080", ":0",
// "[::1]:0", "localhost:9000") with network "tcp", "tcp4" or "tcp6", like
// net.Listen, and returns a *Listener. A host name is resolved on the
// caller's goroutine; an empty host listens on every address (IPv6 and,
// through it, IPv4 for "tcp"). SO_REUSEADDR is set, and accepted
// connections have TCP_NODELAY, as with net.Listen. Errors are
// *net.OpError.
func (nw *Network) Listen(network, address string) (net.Listener, error) {
	ap, err := resolveListen(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	opts := ioloop.ListenOptions{NoDelay: true}
	fd, bound, err := ioloop.ListenTCP(ap, opts)
	if err != nil && network == "tcp" && ap.Addr().Is6() && ap.Addr().IsUnspecified() {
		fd, bound, err = ioloop.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port()), opts) // no IPv6
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: tcpAddr(ap), Err: syscallError("listen", err)}
	}
	l := &Listener{nw: nw, fd: fd, addr: tcpAddr(bound), net: network,
		done: make(chan struct{}, 1), closedCh: make(chan struct{})}
	if post(nw, l, (*Listener).register) != nil {
		closeFD(fd)
		return nil, &net.OpError{Op: "listen", Net: network, Addr: l.addr, Err: net.ErrClosed}
	}
	<-l.done
	return l, nil
}

// Dial connects to address on network "tcp", "tcp4" or "tcp6", like
// net.Dial; see DialContext.
func (nw *Network) Dial(network, address string) (net.Conn, error) {
	return nw.DialContext(context.Background(), network, address)
}

// DialContext connects to address on network "tcp", "tcp4" or "tcp6" and
// returns a *Conn. A host name is resolved with net.DefaultResolver on the
// caller's goroutine, and its addresses are tried one after another until
// one connects (no Happy Eyeballs racing). ctx bounds the whole dial: when
// it ends first, the connect in flight is canceled and the error matches
// ctx.Err(). Errors are *net.OpError with the system call's error inside,
// so errors.Is(err, syscall.ECONNREFUSED) works.
func (nw *Network) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	addrs, err := resolveDial(ctx, network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var first error
	for _, ap := range addrs {
		c, err := nw.dialOne(ctx, network, ap)
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// dialOne connects a new socket to ap through the loop.
func (nw *Network) dialOne(ctx context.Context, network string, ap netip.AddrPort) (*Conn, error) {
	fd, err := ioloop.TCPSocket(ap)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: tcpAddr(ap), Err: syscallError("socket", err)}
	}
	c := newConn(nw, fd)
	c.raddr = tcpAddr(ap)
	c.dialTo = ap
	if post(nw, c, (*Conn).startConnect) != nil {
		closeFD(fd)
		return nil, &net.OpError{Op: "dial", Net: network, Addr: c.raddr, Err: net.ErrClosed}
	}
	select {
	case <-c.wr.done:
	case <-ctx.Done():
		if post(nw, c, (*Conn).cancelConnect) == nil {
			<-c.wr.done
		} else {
			<-c.wr.done // the loop's Close cancels the connect and wakes us
		}
	}
	err = c.wr.err
	c.wr.err = nil
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, net.ErrClosed) {
			err = ctx.Err()
		}
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Addr: c.raddr, Err: err}
	}
	c.loadAddrs()
	return c, nil
}

// startConnect runs on the loop: it registers the Conn and submits the
// Connect, with the write direction's Completion (no Write can run yet).
func (c *Conn) startConnect() {
	c.register()
	c.wr.busy = true
	ioloop.Connect(c.nw.loop, &c.wr.op, c.fd, c.dialTo, &c.wr, (*direction).onConnected)
}

func (d *direction) onConnected(_ *ioloop.Completion, err error) {
	d.busy = false
	switch {
	case err == nil:
	case errors.Is(err, ioloop.ErrCanceled) || err == ioloop.ErrClosed:
		err = net.ErrClosed
	default:
		err = syscallError("connect", err)
	}
	d.finish(0, err)
	d.c.maybeCloseFD()
}

// cancelConnect runs on the loop when the dial's context ended.
func (c *Conn) cancelConnect() { c.wr.cancel() }

// resolveListen turns a listen address into the socket address to bind.
func resolveListen(network, address string) (netip.AddrPort, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return netip.AddrPort{}, net.UnknownNetworkError(network)
	}
	a, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port := uint16(a.Port)
	if a.IP == nil {
		if network == "tcp4" {
			return netip.AddrPortFrom(netip.IPv4Unspecified(), port), nil
		}
		return netip.AddrPortFrom(netip.IPv6Unspecified(), port), nil
	}
	ip, _ := netip.AddrFromSlice(a.IP)
	return netip.AddrPortFrom(ip.Unmap().WithZone(a.Zone), port), nil
}

// resolveDial turns a dial address into the socket addresses to try.
func resolveDial(ctx context.Context, network, address string) ([]netip.AddrPort, error) {
	ipNetwork := "ip"
	switch network {
	case "tcp":
	case "tcp4":
		ipNetwork = "ip4"
	case "tcp6":
		ipNetwork = "ip6"
	default:
		return nil, net.UnknownNetworkError(network)
	}
	host, service, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := net.DefaultResolver.LookupPort(ctx, network, service)
	if err != nil {
		return nil, err
	}
	if host == "" { // the local system, as net.Dial
		if network == "tcp6" {
			return []netip.AddrPort{netip.AddrPortFrom(netip.IPv6Loopback(), uint16(port))}, nil
		}
		return []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))}, nil
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, ipNetwork, host); err != nil {
		return nil, err
	}
	addrs := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		ip = ip.Unmap()
		if (network == "tcp4" && !ip.Is4()) || (network == "tcp6" && !ip.Is6()) {
			continue
		}
		addrs = append(addrs, netip.AddrPortFrom(ip, uint16(port)))
	}
	if len(addrs) == 0 {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return addrs, nil
}

// tcpAddr converts a socket address to the net package's form, with an
// IPv4-mapped IPv6 address shown as IPv4, as the net package does.
func tcpAddr(ap netip.AddrPort) *net.TCPAddr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

// syscallError wraps an errno as the net package does (os.SyscallError
// inside net.OpError), so that errors.Is finds the errno.
func syscallError(call string, err error) error {
	if isErrno(err) {
		return os.NewSyscallError(call, err)
	}
	return err
}

// Listen is Default().Listen: it listens through the package's default
// Network.
func Listen(network, address string) (net.Listener, error) {
	nw, err := Default()
	if err != nil {
		return nil, errNoNetwork("listen", network, err)
	}
	return nw.Listen(network, address)
}

// Dial is Default().Dial: it connects through the package's default
// Network.
func Dial(network, address string) (net.Conn, error) {
	return DialContext(context.Background(), network, address)
}

// DialContext is Default().DialContext: it connects through the package's
// default Network.
func DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	nw, err := Default()
	if err != nil {
		return nil, errNoNetwork("dial", network, err)
	}
	return nw.DialContext(ctx, network, address)
}

// isErrno reports whether err is, or wraps, a syscall.Errno (on Windows
// the loop's *ioloop.WindowsError wraps one).
func isErrno(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno)
}
