//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/benchkit/proc"
	"golang.org/x/sys/unix"
)

// `bench sendzc` streams -size-byte messages over one loopback TCP
// connection, with Send or with SendZC, and reports the throughput and the
// sender's CPU per byte.
//
// Why TCP over loopback and not AF_UNIX: the kernel supports zero-copy
// sends only on sockets that declare it (SOCK_SUPPORT_ZC: TCP and UDP);
// IORING_OP_SEND_ZC on an AF_UNIX socket fails with EOPNOTSUPP, so there
// would be nothing to compare. Loopback TCP is not a real device either:
// a zero-copy skb that loops back to a local socket has its pages copied
// when it is received (skb_orphan_frags_rx), because the receiver could
// hold them indefinitely. So on loopback SendZC still pays for one copy,
// later, plus the page pinning and the second CQE; what this measures is
// that overhead, not what zero-copy buys on a NIC. docs/bench/fixed_zc.md
// has the numbers.
//
// The sender is the loop, on this goroutine locked to its thread: one
// message in flight, resubmitted from its callback (a second Send on the
// same stream socket could interleave with the first's continuation). The
// receiver is a goroutine locked to another thread, in blocking read(2)
// calls on the accepted socket. Each thread's CPU time is read from
// /proc (threadCPU); on loopback the kernel's TCP receive work
// (softirq) mostly runs on, and is charged to, the sending thread, which
// is why the receiver's figure is reported too, with the process's.

// Values of `bench sendzc -mode`.
const (
	sendModeSend = "send"
	sendModeZC   = "zc"
)

// sendBench keeps one message in flight on fd, Send or SendZC.
type sendBench struct {
	loop     *ioloop.Loop
	c        ioloop.Completion
	fd       int
	msg      []byte
	zc       bool
	sends    int64
	bytes    int64
	stopping bool
	err      error
}

func (b *sendBench) submit() {
	if b.zc {
		ioloop.SendZC(b.loop, &b.c, b.fd, b.msg, b, (*sendBench).onSent)
		return
	}
	ioloop.Send(b.loop, &b.c, b.fd, b.msg, b, (*sendBench).onSent)
}

func (b *sendBench) onSent(_ *ioloop.Completion, n int, err error) {
	b.bytes += int64(n)
	if err != nil {
		if b.err == nil {
			b.err = fmt.Errorf("send: %w", err)
		}
		b.stopping = true
		return
	}
	b.sends++
	if !b.stopping {
		b.submit()
	}
}

// threadCPU is the CPU time the scheduler has given thread tid of this
// process: the first field of /proc/self/task/TID/schedstat, in
// nanoseconds. Reading it from another thread needs no cooperation from
// the one measured (a running thread's current slice may be missing, at
// most a tick's worth). The kernel charges softirq work to the thread it
// interrupted (this kernel has no IRQ_TIME_ACCOUNTING), as getrusage does.
func threadCPU(tid int) (time.Duration, error) {
	text, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/schedstat", tid))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(text), " ")
	ns, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/self/task/%d/schedstat: %q: %w", tid, text, err)
	}
	return time.Duration(ns), nil
}

// streamReceiver reads and discards everything until end of stream, on
// a thread of its own, whose id it sends on tid first.
type streamReceiver struct {
	fd  int
	tid chan int
	err error // written by the receiver, read after it has ended
}

func (r *streamReceiver) run(bufBytes int) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r.tid <- unix.Gettid()
	buf := make([]byte, bufBytes)
	for {
		n, err := unix.Read(r.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			r.err = fmt.Errorf("receive: %w", err)
			return
		}
		if n == 0 {
			return
		}
	}
}

// threadsCPU reads the CPU time of the sender's and the receiver's
// threads.
func threadsCPU(sender, receiver int) (senderCPU, receiverCPU time.Duration, err error) {
	senderCPU, err = threadCPU(sender)
	if err == nil {
		receiverCPU, err = threadCPU(receiver)
	}
	return senderCPU, receiverCPU, err
}

// sendResult is what one run of bench sendzc measured.
type sendResult struct {
	sends, bytes int64
	iv           proc.Interval // wall time and process CPU
	senderCPU    time.Duration
	receiverCPU  time.Duration
	allocs       uint64
}

// streamLoopback connects a TCP socket to a listener on 127.0.0.1 and
// returns the sender's end (non-blocking, for the loop) and the
// receiver's (blocking, accepted).
func streamLoopback(loop *ioloop.Loop) (sendFD, recvFD int, err error) {
	listenFD, bound, err := ioloop.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ioloop.ListenOptions{Backlog: 1})
	if err != nil {
		return -1, -1, fmt.Errorf("listen: %w", err)
	}
	defer func() { _ = unix.Close(listenFD) }()
	sendFD, err = loop.TCPSocket(bound)
	if err != nil {
		return -1, -1, fmt.Errorf("socket: %w", err)
	}
	var (
		c          ioloop.Completion
		connectErr error
	)
	ioloop.Connect(loop, &c, sendFD, bound, &connectErr, func(e *error, _ *ioloop.Completion, err error) { *e = err })
	if err := errors.Join(loop.Run(), connectErr); err != nil {
		_ = unix.Close(sendFD)
		return -1, -1, fmt.Errorf("connect: %w", err)
	}
	// The connection is in the backlog once Connect has completed, so the
	// non-blocking listener has it; accept4 without SOCK_NONBLOCK gives
	// a blocking socket on Linux.
	recvFD, _, err = unix.Accept4(listenFD, unix.SOCK_CLOEXEC)
	if err != nil {
		_ = unix.Close(sendFD)
		return -1, -1, fmt.Errorf("accept: %w", err)
	}
	return sendFD, recvFD, nil
}

// sendStream runs the benchmark on loop: warmup, then duration measured.
func sendStream(loop *ioloop.Loop, size int, zc bool, warmup, duration time.Duration) (sendResult, error) {
	runtime.LockOSThread() // the sender's CPU is this thread's
	defer runtime.UnlockOSThread()
	sendFD, recvFD, err := streamLoopback(loop)
	if err != nil {
		return sendResult{}, err
	}
	recv := &streamReceiver{fd: recvFD, tid: make(chan int, 1)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		recv.run(max(size, 256<<10))
	}()
	senderTID, receiverTID := unix.Gettid(), <-recv.tid

	bench := &sendBench{loop: loop, fd: sendFD, msg: ioloop.AlignedBuffer(size, 4096), zc: zc}
	for i := range bench.msg {
		bench.msg[i] = byte(i*7 + 1) // not a zero page
	}
	bench.submit()
	runErr := loop.RunFor(warmup)

	// The CPU readings allocate; the allocation count is taken inside
	// them, around the loop alone.
	sends0, bytes0 := bench.sends, bench.bytes
	senderCPU0, receiverCPU0, cpuErr := threadsCPU(senderTID, receiverTID)
	allocs0 := heapAllocs()
	m := proc.StartMeter()
	if runErr == nil {
		runErr = loop.RunFor(duration)
	}
	iv := m.Stop()
	allocs := heapAllocs() - allocs0
	senderCPU1, receiverCPU1, cpuErr1 := threadsCPU(senderTID, receiverTID)
	res := sendResult{
		sends: bench.sends - sends0, bytes: bench.bytes - bytes0, iv: iv, allocs: allocs,
		senderCPU: senderCPU1 - senderCPU0, receiverCPU: receiverCPU1 - receiverCPU0,
	}

	// Drain the message in flight (the receiver keeps reading), then end
	// the stream so that the receiver sees EOF.
	bench.stopping = true
	if runErr == nil {
		runErr = loop.Run()
	}
	closeErr := unix.Close(sendFD)
	wg.Wait()
	_ = unix.Close(recvFD)
	return res, errors.Join(runErr, bench.err, recv.err, closeErr, cpuErr, cpuErr1)
}

func runBenchSendZC(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ioloop bench sendzc",
		"ioloop bench sendzc [-mode send|zc] [-size 64K] [-duration 5s] [-warmup 500ms] [-backend B] [-entries N] [-json]", stderr)
	mode := newChoiceFlag(sendModeSend, sendModeZC)
	fs.Var(mode, "mode", "how the sender sends (`mode`): send (Send, the kernel copies the message into the socket buffer) "+
		"or zc (SendZC: IORING_OP_SEND_ZC on io_uring, Send elsewhere)")
	size := byteSize(64 << 10)
	fs.Var(&size, "size", "message size in bytes, one message in flight (suffixes K, M: powers of 1024)")
	duration := fs.Duration("duration", 5*time.Second, "how long to measure")
	warmup := fs.Duration("warmup", 500*time.Millisecond, "how long to stream before measuring (the TCP window opens)")
	lf := addLoopFlags(fs, "submission queue size (0: library default)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if code, ok := lf.check(fs); !ok {
		return code
	}
	switch {
	case size < 1 || size > 1<<30:
		return usageError(fs, "-size must be in 1..1G, got %d", size)
	case *duration <= 0:
		return usageError(fs, "-duration must be positive, got %v", *duration)
	case *warmup < 0:
		return usageError(fs, "-warmup must not be negative, got %v", *warmup)
	}
	loop, err := newLoop(lf.options(), stderr)
	if err != nil {
		return fail(stderr, fs.Name(), err)
	}
	backend := loop.Backend()
	res, err := sendStream(loop, int(size), mode.value == sendModeZC, *warmup, *duration)
	if err := errors.Join(err, loop.Close()); err != nil {
		return fail(stderr, fs.Name(), err)
	}
	if res.sends == 0 {
		return fail(stderr, fs.Name(), errors.New("no message was sent while measuring"))
	}
	nsPerByte := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(res.bytes) }
	r := newReport("ioloop_sendzc").
		str("backend", backend.String()).
		str("mode", mode.value).
		str("net", "tcp_loopback").
		int("size", int64(size)).
		int("bytes", res.bytes).
		float("gb_per_sec", float64(res.bytes)/res.iv.Wall.Seconds()/1e9, 3).
		float("sends_per_sec", res.iv.PerSecond(res.sends), 0).
		float("sender_cpu_ns_per_byte", nsPerByte(res.senderCPU), 4)
	r.float("receiver_cpu_ns_per_byte", nsPerByte(res.receiverCPU), 4).
		float("process_cpu_ns_per_byte", nsPerByte(res.iv.CPU.Total()), 4).
		float("allocs_per_send", float64(res.allocs)/float64(res.sends), 4)
	if err := r.write(stdout, *asJSON); err != nil {
		return fail(stderr, fs.Name(), err)
	}
	return exitOK
}
