//go:build !windows

package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/perf"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// echoProtocol sends a fixed message per connection and wants it back.
type echoProtocol struct{}

// Prepare leaves the request as it is: every message of a connection
// carries the same pattern.
func (echoProtocol) Prepare(*Conn) {}

func (echoProtocol) Check(conn *Conn) error {
	if !bytes.Equal(conn.RecvBuf, conn.SendBuf) {
		return errors.New("the server echoed different bytes than were sent")
	}
	return nil
}

func (echoProtocol) Record(*Conn, time.Duration) {}

// NewEchoClient returns the echo load generator: conns connections, each
// sending size bytes and waiting until all of them have come back. Each
// connection sends a pattern of its own, so a reply delivered to the
// wrong connection is caught.
func NewEchoClient(loop *ioloop.Loop, addr netip.AddrPort, conns, size int) *Client {
	cl := NewClient(loop, addr, conns, size, size, echoProtocol{})
	for i := range cl.conns {
		buf := cl.conns[i].SendBuf
		for j := range buf {
			buf[j] = byte(i*31 + j)
		}
	}
	return cl
}

// EchoConfig says what one echo measurement does.
type EchoConfig struct {
	ConnectTimeout time.Duration // for establishing every connection
	Warmup         time.Duration // load before measuring
	Duration       time.Duration // the measured window
	// Server, when not nil, is the server process, whose CPU time is
	// measured over the window.
	Server *ServerMeter
	// SyscallWindow, when positive and Server is set, is a second window
	// after the first with perf counting the server's system calls: perf's
	// tracepoint slows every system call, so it is not attached while CPU
	// time is measured (measured: about 6% more CPU per message for a
	// server making three system calls per message).
	SyscallWindow time.Duration
	// Progress, when not nil, receives progress lines starting with '#',
	// so that a script can start a profiler once "# measuring" appears.
	Progress io.Writer
}

// EchoResult is what one echo measurement measured.
type EchoResult struct {
	Conns, Size           int
	ConnectTime           time.Duration
	Messages              int64         // round trips over the measured window
	Interval              proc.Interval // the window's wall time and the client's CPU time
	P50, P99              time.Duration
	SyscallWindowMessages int64 // round trips over the second window
}

// RunEcho connects cl, warms up, measures for cfg.Duration (with the
// server's CPU time around the window), then, if asked, counts the
// server's system calls over a second window, and stops every connection
// after its current message. The caller closes cl.
func RunEcho(cl *Client, size int, cfg EchoConfig) (EchoResult, error) {
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	res := EchoResult{Conns: cl.Len(), Size: size}
	began := time.Now()
	err := cl.Connect(cfg.ConnectTimeout)
	res.ConnectTime = time.Since(began)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(progress, "# connected %d connections in %v; warming up for %v\n", cl.Len(), res.ConnectTime.Round(time.Millisecond), cfg.Warmup)
	cl.StartAll()
	if err := cl.RunUntil(cfg.Warmup, nil); err != nil {
		return res, err
	}

	fmt.Fprintf(progress, "# measuring for %v\n", cfg.Duration)
	var cpuProbe *Probe
	if cfg.Server != nil {
		cpuProbe = cfg.Server.cpuProbe()
	}
	if res.Messages, res.Interval, err = cl.Measure(cfg.Duration, cpuProbe); err != nil {
		return res, err
	}
	if res.Messages == 0 {
		return res, errors.New("no message completed a round trip while measuring")
	}
	res.P50, res.P99 = cl.latency.Quantile(0.50), cl.latency.Quantile(0.99)
	if cfg.Server != nil && cfg.SyscallWindow > 0 {
		fmt.Fprintf(progress, "# measuring for %v more (second window)\n", cfg.SyscallWindow)
		if res.SyscallWindowMessages, _, err = cl.Measure(cfg.SyscallWindow, cfg.Server.syscallProbe()); err != nil {
			return res, err
		}
	}
	cl.Stop()
	return res, nil
}

// ServerMeter measures a server process from outside over the client's
// windows: its CPU time from /proc, and its system calls with perf.
type ServerMeter struct {
	PID int
	// CPU is the CPU time the server used over the measured window.
	CPU proc.CPU
	// Syscalls is the count over the second window; -1: not counted, and
	// SyscallsErr says why.
	Syscalls    int64
	SyscallsErr error
	counter     *perf.SyscallCounter // perf, while it runs
}

// NewServerMeter returns the meter of process pid. It fails now, not
// after the warm-up, where the CPU time is unreadable.
func NewServerMeter(pid int) (*ServerMeter, error) {
	if _, err := proc.ProcessCPU(pid); err != nil {
		return nil, fmt.Errorf("cannot measure the server: %w", err)
	}
	return &ServerMeter{PID: pid, Syscalls: -1}, nil
}

// cpuProbe reads the server's CPU time at both ends of the window.
func (m *ServerMeter) cpuProbe() *Probe {
	var begin proc.CPU
	read := func(into *proc.CPU) error {
		cpu, err := proc.ProcessCPU(m.PID)
		if err != nil {
			return fmt.Errorf("reading the server's CPU time: %w", err)
		}
		*into = cpu
		return nil
	}
	return &Probe{
		Begin: func() error { return read(&begin) },
		End: func() error {
			err := read(&m.CPU)
			m.CPU = m.CPU.Sub(begin)
			return err
		},
	}
}

// CPUProbe and SyscallProbe are the probes RunEcho puts around its two
// windows, for load generators of other protocols (the bench/ suite's UDP
// echo client) that measure a server the same way.
func (m *ServerMeter) CPUProbe() *Probe { return m.cpuProbe() }

// SyscallProbe: see CPUProbe.
func (m *ServerMeter) SyscallProbe() *Probe { return m.syscallProbe() }

// syscallProbe attaches perf to the server and counts its system calls
// over the window. perf attaches only now, after the CPU time has been
// measured. If perf is missing or fails, SyscallsErr says why and
// Syscalls stays -1: a missing count leaves a field out of the report,
// while the CPU time is still worth having.
func (m *ServerMeter) syscallProbe() *Probe {
	return &Probe{
		Begin: func() error {
			counter, err := perf.Start(m.PID)
			if err != nil {
				m.SyscallsErr = err
				return nil
			}
			m.counter = counter
			if err := counter.Enable(); err != nil {
				m.dropSyscalls(err)
			}
			return nil
		},
		End: func() error {
			if m.counter == nil {
				return nil
			}
			if err := m.counter.Disable(); err != nil {
				m.dropSyscalls(err)
				return nil
			}
			calls, err := m.counter.Finish()
			if err != nil {
				m.dropSyscalls(err)
				return nil
			}
			m.Syscalls, m.counter = calls, nil
			return nil
		},
	}
}

func (m *ServerMeter) dropSyscalls(err error) {
	m.SyscallsErr = err
	m.Abandon()
}

// Abandon stops perf if it still runs, discarding its count: for the
// error paths, before the server is stopped.
func (m *ServerMeter) Abandon() {
	if m.counter != nil && !m.counter.Finished() {
		_, _ = m.counter.Finish()
	}
	m.counter = nil
}
