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
)

// archConnectTimeout bounds how long the client's connecting may take.
const archConnectTimeout = 10 * time.Second

// archClient is the load generator of `bench arch`: a loadClient whose
// every connection sends a request, waits for its reply, checks it, and
// sends the next.
type archClient struct {
	loadClient
	work  time.Duration
	dist  string
	heavy []bool // by connection: its current request costs unevenFactor × work

	issued uint64    // requests sent, which picks the heavy ones
	light  histogram // requests that cost the base work only
}

func newArchClient(loop *ioloop.Loop, addr netip.AddrPort, conns int, work time.Duration, dist string) *archClient {
	cl := &archClient{work: work, dist: dist, heavy: make([]bool, conns)}
	initLoadClient(&cl.loadClient, loop, addr, conns, archRequestSize, archReplySize, cl)
	return cl
}

// prepare writes the next request: its id, the work it asks for, and the
// connection's index.
func (cl *archClient) prepare(conn *loadConn) {
	cl.issued++
	work := cl.work
	heavy := cl.dist == distUneven && cl.issued%unevenEvery == 0
	cl.heavy[conn.index] = heavy
	if heavy {
		work *= unevenFactor
	}
	req := conn.sendBuf
	binary.LittleEndian.PutUint64(req[0:8], cl.issued)
	binary.LittleEndian.PutUint32(req[8:12], uint32(work.Nanoseconds()))
	binary.LittleEndian.PutUint32(req[12:16], uint32(conn.index))
}

func (cl *archClient) check(conn *loadConn) error {
	return checkReply((*[archRequestSize]byte)(conn.sendBuf), (*[archReplySize]byte)(conn.recvBuf))
}

func (cl *archClient) record(conn *loadConn, d time.Duration) {
	if !cl.heavy[conn.index] {
		cl.light.record(d)
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
func machineProbe(server *probe, busy *time.Duration) *probe {
	begin := time.Duration(-1)
	*busy = -1
	return &probe{
		begin: func() error {
			if server != nil {
				if err := server.begin(); err != nil {
					return err
				}
			}
			begin = machineBusy()
			return nil
		},
		end: func() error {
			if end := machineBusy(); begin >= 0 && end >= 0 {
				*busy = end - begin
			}
			if server != nil {
				return server.end()
			}
			return nil
		},
	}
}

// archResult is one measured run.
type archResult struct {
	requests        int64
	lightRequests   int64         // of requests, those costing the base work
	iv              interval      // the client's wall and CPU time
	serverCPU       time.Duration // over the same window; -1: unknown
	machineCPU      time.Duration // every process's, over the same window; -1: unknown
	p50, p99, light time.Duration // light: p99 of the requests costing the base work
}

// run connects, warms up, measures for duration with server (if not nil)
// around the window, and stops.
func (cl *archClient) run(connectTimeout, warmup, duration time.Duration, server *probe) (archResult, error) {
	if err := cl.connect(connectTimeout); err != nil {
		return archResult{}, err
	}
	cl.startAll()
	if err := cl.runUntil(warmup, nil); err != nil {
		return archResult{}, err
	}
	var machineCPU time.Duration
	requests, iv, err := cl.measure(duration, machineProbe(server, &machineCPU))
	if err != nil {
		return archResult{}, err
	}
	cl.stopping = true
	if requests == 0 {
		return archResult{}, errors.New("no request completed while measuring")
	}
	return archResult{
		requests: requests, lightRequests: int64(cl.light.total), iv: iv, serverCPU: -1, machineCPU: machineCPU,
		p50: cl.latency.quantile(0.50), p99: cl.latency.quantile(0.99), light: cl.light.quantile(0.99),
	}, nil
}

// runArchClient runs one measured run of the load generator against addr.
func runArchClient(opts ioloop.Options, addr netip.AddrPort, conns int, work time.Duration, dist string,
	warmup, duration time.Duration, server *probe, stderr io.Writer) (archResult, error) {
	loop, err := newLoop(opts, stderr)
	if err != nil {
		return archResult{}, err
	}
	cl := newArchClient(loop, addr, conns, work, dist)
	res, runErr := cl.run(archConnectTimeout, warmup, duration, server)
	closeErr := loop.Close() // cancels the Recvs still waiting; then the sockets may go
	cl.closeAll()
	return res, errors.Join(runErr, closeErr)
}
