//go:build !windows

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/load"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// archConnectTimeout bounds how long the client's connecting may take.
const archConnectTimeout = 10 * time.Second

// archClient is the protocol of `bench arch`'s load generator: every
// connection sends a request asking for some work, waits for its reply,
// checks it, and sends the next.
type archClient struct {
	*load.Client
	work  time.Duration
	dist  string
	heavy []bool // by connection: its current request costs unevenFactor × work

	issued uint64         // requests sent, which picks the heavy ones
	light  load.Histogram // requests that cost the base work only
}

func newArchClient(loop *ioloop.Loop, addr netip.AddrPort, conns int, work time.Duration, dist string) *archClient {
	cl := &archClient{work: work, dist: dist, heavy: make([]bool, conns)}
	cl.Client = load.NewClient(loop, addr, conns, archRequestSize, archReplySize, cl)
	return cl
}

// Prepare writes the next request: its id, the work it asks for, and the
// connection's index.
func (cl *archClient) Prepare(conn *load.Conn) {
	cl.issued++
	work := cl.work
	heavy := cl.dist == distUneven && cl.issued%unevenEvery == 0
	cl.heavy[conn.Index] = heavy
	if heavy {
		work *= unevenFactor
	}
	req := conn.SendBuf
	binary.LittleEndian.PutUint64(req[0:8], cl.issued)
	binary.LittleEndian.PutUint32(req[8:12], uint32(work.Nanoseconds()))
	binary.LittleEndian.PutUint32(req[12:16], uint32(conn.Index))
}

// Check checks the reply against the request.
func (cl *archClient) Check(conn *load.Conn) error {
	return checkReply((*[archRequestSize]byte)(conn.SendBuf), (*[archReplySize]byte)(conn.RecvBuf))
}

// Record keeps the latencies of the light requests apart.
func (cl *archClient) Record(conn *load.Conn, d time.Duration) {
	if !cl.heavy[conn.Index] {
		cl.light.Record(d)
	}
}

// checkReply reports whether reply answers req: the same id, work and
// connection, followed by the work's result.
func checkReply(req *[archRequestSize]byte, reply *[archReplySize]byte) error {
	if !bytes.Equal(reply[:archRequestSize], req[:]) {
		return fmt.Errorf("reply %x does not answer request %x (id, work, connection)", reply[:archRequestSize], req[:])
	}
	return nil
}

// machineProbe brackets a window with server (if not nil) outside and
// machineBusy inside, and stores the machine's busy CPU time over the
// window in *busy, or -1 where it is unknown.
func machineProbe(server *load.Probe, busy *time.Duration) *load.Probe {
	begin := time.Duration(-1)
	*busy = -1
	return &load.Probe{
		Begin: func() error {
			if server != nil {
				if err := server.Begin(); err != nil {
					return err
				}
			}
			begin = proc.MachineBusy()
			return nil
		},
		End: func() error {
			if end := proc.MachineBusy(); begin >= 0 && end >= 0 {
				*busy = end - begin
			}
			if server != nil {
				return server.End()
			}
			return nil
		},
	}
}

// archResult is one measured run.
type archResult struct {
	requests        int64
	lightRequests   int64         // of requests, those costing the base work
	iv              proc.Interval // the client's wall and CPU time
	serverCPU       time.Duration // over the same window; -1: unknown
	machineCPU      time.Duration // every process's, over the same window; -1: unknown
	p50, p99, light time.Duration // light: p99 of the requests costing the base work
}

// run connects, warms up, measures for duration with server (if not nil)
// around the window, and stops.
func (cl *archClient) run(connectTimeout, warmup, duration time.Duration, server *load.Probe) (archResult, error) {
	if err := cl.Connect(connectTimeout); err != nil {
		return archResult{}, err
	}
	cl.StartAll()
	if err := cl.RunUntil(warmup, nil); err != nil {
		return archResult{}, err
	}
	var machineCPU time.Duration
	requests, iv, err := cl.Measure(duration, machineProbe(server, &machineCPU))
	if err != nil {
		return archResult{}, err
	}
	cl.Stop()
	if requests == 0 {
		return archResult{}, errors.New("no request completed while measuring")
	}
	return archResult{
		requests: requests, lightRequests: cl.light.Count(), iv: iv, serverCPU: -1, machineCPU: machineCPU,
		p50: cl.Latency().Quantile(0.50), p99: cl.Latency().Quantile(0.99), light: cl.light.Quantile(0.99),
	}, nil
}

// runArchClient runs one measured run of the load generator against addr.
func runArchClient(opts ioloop.Options, addr netip.AddrPort, conns int, work time.Duration, dist string,
	warmup, duration time.Duration, server *load.Probe, stderr io.Writer) (archResult, error) {
	loop, err := newLoop(opts, stderr)
	if err != nil {
		return archResult{}, err
	}
	cl := newArchClient(loop, addr, conns, work, dist)
	res, runErr := cl.run(archConnectTimeout, warmup, duration, server)
	closeErr := cl.Close()
	return res, errors.Join(runErr, closeErr)
}
