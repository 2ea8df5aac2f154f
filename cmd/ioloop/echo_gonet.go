package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ioloop/ioloop/internal/benchkit/serve"
)

// goNetServer is the baseline of `ioloop echo -server gonet`: the echo
// server an idiomatic Go program writes with the net package, an accept
// loop and one goroutine per connection that reads into a buffer and
// writes back what it read. The runtime multiplexes the goroutines over
// its netpoller (epoll on Linux, kqueue on the BSDs and macOS), so this is
// what the loop's readiness backends compete with. It counts like
// echoServer, so the two report the same statistics.
type goNetServer struct {
	ln      net.Listener
	addr    netip.AddrPort
	bufSize int

	connections, active, messages, bytes atomic.Int64

	mu      sync.Mutex
	conns   map[net.Conn]struct{} // open connections, closed by shutdown
	closing bool
	wg      sync.WaitGroup // the accept loop and the connection goroutines

	fatal chan error // the accept error that stops the server
}

// listenGoNet listens on addr with net.Listen, as a Go program would (the
// net package sets SO_REUSEADDR on the listener and TCP_NODELAY on every
// connection, as the ioloop server does), and starts accepting.
func listenGoNet(addr netip.AddrPort, bufSize int) (*goNetServer, error) {
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, err
	}
	tcpAddr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		_ = ln.Close()
		return nil, fmt.Errorf("listener on %s has address %v of type %T", addr, ln.Addr(), ln.Addr())
	}
	s := &goNetServer{
		ln: ln, addr: tcpAddr.AddrPort(), bufSize: bufSize,
		conns: map[net.Conn]struct{}{}, fatal: make(chan error, 1),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (s *goNetServer) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			switch serve.ClassifyAcceptError(err) {
			case serve.AcceptStopped:
				return
			case serve.AcceptRetryLater:
				time.Sleep(serve.AcceptBackoff)
			case serve.AcceptRetryNow:
			default:
				s.fatal <- fmt.Errorf("accept: %w", err)
				return
			}
			continue
		}
		if s.track(conn) {
			go s.echo(conn)
		}
	}
}

// track registers a new connection, or closes it when the server is
// shutting down, and reports whether the connection may be served.
func (s *goNetServer) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		_ = conn.Close()
		return false
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	s.connections.Add(1)
	s.active.Add(1)
	return true
}

// echo serves one connection until the peer closes it, an error occurs, or
// shutdown closes it.
func (s *goNetServer) echo(conn net.Conn) {
	defer s.wg.Done()
	buf := make([]byte, s.bufSize)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			s.messages.Add(1)
			s.bytes.Add(int64(n))
			if _, err := conn.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
	_ = conn.Close()
	s.active.Add(-1)
}

func (s *goNetServer) stats() serve.EchoStats {
	return serve.EchoStats{
		Connections: s.connections.Load(), Active: s.active.Load(),
		Messages: s.messages.Load(), Bytes: s.bytes.Load(),
	}
}

// serve waits for a signal or a fatal accept error; the server runs on its
// own goroutines meanwhile.
func (s *goNetServer) serve(signals <-chan os.Signal, stdout io.Writer) error {
	for {
		select {
		case sig := <-signals:
			if stop, err := handleSignal(sig, s, stdout); stop || err != nil {
				return errors.Join(err, s.shutdown())
			}
		case err := <-s.fatal:
			return errors.Join(err, s.shutdown())
		}
	}
}

// shutdown stops accepting, closes every connection (which ends its
// goroutine's Read), and waits for all goroutines to finish.
func (s *goNetServer) shutdown() error {
	err := s.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	s.mu.Lock()
	s.closing = true
	for conn := range s.conns {
		_ = conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
