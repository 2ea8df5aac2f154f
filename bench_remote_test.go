//go:build !windows

package ioloop

import (
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Cost of handing work across threads, for the numbers in
// docs/ARCHITECTURE.md ("Beyond one thread"):
//
//	go test -run xxx -bench 'Remote' -count 5 .
//
// RemotePingPong bounces a message between two loops of a Group (each on
// its own locked thread) b.N times; both loops block between messages, so
// every hop pays a wakeup. The Post variant wakes the target with an
// eventfd write from the sender's thread; the Message variant lets the
// wakeup ride in the sender's next io_uring_enter (IORING_OP_MSG_RING on
// io_uring; on epoll both are the same path); cpu-ns/op is the CPU time of
// the whole process per hop. RemotePostBurst measures the
// inbox itself: one goroutine posts to a loop that is kept busy, so no
// wakeup is needed.

type pingPong struct {
	loops     [2]*Loop
	remaining atomic.Int64
	useMsg    bool
	done      chan struct{}
	sides     [2]pingSide
}

type pingSide struct {
	pp    *pingPong
	index int
}

func (s *pingSide) onPing() {
	pp := s.pp
	if pp.remaining.Add(-1) <= 0 {
		close(pp.done)
		return
	}
	other := &pp.sides[1-s.index]
	var err error
	if pp.useMsg {
		err = Message(pp.loops[s.index], pp.loops[1-s.index], other, (*pingSide).onPing)
	} else {
		err = Post(pp.loops[1-s.index], other, (*pingSide).onPing)
	}
	if err != nil {
		panic(err)
	}
}

func BenchmarkRemotePingPong(b *testing.B) {
	for _, backend := range opsBackends() {
		for _, variant := range []string{"Post", "Message"} {
			b.Run(backend.String()+"/"+variant, func(b *testing.B) {
				pp := &pingPong{useMsg: variant == "Message", done: make(chan struct{})}
				pp.sides[0] = pingSide{pp: pp, index: 0}
				pp.sides[1] = pingSide{pp: pp, index: 1}
				g, err := StartGroup(GroupOptions{Loops: 2, Loop: Options{Backend: backend}}, func(l *Loop, i int) error {
					pp.loops[i] = l
					return nil
				})
				if err != nil {
					b.Skip(err)
				}
				pp.remaining.Store(int64(b.N) + 1)
				b.ReportAllocs()
				cpuBefore := processCPUNs(b)
				b.ResetTimer()
				if err := Post(pp.loops[0], &pp.sides[0], (*pingSide).onPing); err != nil {
					b.Fatal(err)
				}
				select {
				case <-pp.done:
				case <-time.After(5 * time.Minute):
					b.Fatal("ping-pong stalled: a wakeup was lost")
				}
				b.StopTimer()
				b.ReportMetric(float64(processCPUNs(b)-cpuBefore)/float64(b.N), "cpu-ns/op")
				if err := g.Shutdown(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// processCPUNs is the CPU time (user and system) the process has used: a
// ping-pong's latency on an idle virtual machine is mostly the hypervisor
// waking an idle vCPU, its CPU time is what the wakeup path costs.
func processCPUNs(b *testing.B) int64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		b.Fatal(err)
	}
	return usage.Utime.Nano() + usage.Stime.Nano()
}

type burstSink struct{ ran int }

func (s *burstSink) run() { s.ran++ }

func BenchmarkRemotePostBurst(b *testing.B) {
	forEachOpsBackend(b, Options{}, func(b *testing.B, l *Loop) {
		sink := &burstSink{}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < b.N; {
				if Post(l, sink, (*burstSink).run) == nil {
					i++
				}
			}
		}()
		for sink.ran < b.N {
			if err := l.Tick(); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
	})
}
