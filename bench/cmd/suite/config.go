package main

import (
	"fmt"
	"time"

	"github.com/ioloop/ioloop/bench/internal/files"
	"github.com/ioloop/ioloop/bench/internal/timers"
	"github.com/ioloop/ioloop/bench/internal/udp"
)

// config sizes the suite. fullConfig is the published run (under 15
// minutes on a 2-CPU machine); quickConfig keeps every workload and
// contender but cuts configurations and durations to stay under a minute.
type config struct {
	reps int // rounds of the whole suite, unless -reps says otherwise

	echoConns  []int
	echoSizes  []int
	warmup     time.Duration // echo load before measuring
	window     time.Duration // echo measured window
	perfWindow time.Duration // echo second window, counting the server's system calls

	idleConns  int
	idleSettle time.Duration

	nopBatches  []int
	nopDuration time.Duration

	readFile     string
	readFileSize int64
	readQDs      []int
	readDuration time.Duration

	walNs       []int // appends in flight (files.WAL)
	walDuration time.Duration

	timers    int
	timerSpan time.Duration
	// The burst: burstTimers timers, durations uniform in [0, burstSpan),
	// all scheduled from one callback.
	burstTimers int
	burstSpan   time.Duration

	// The scaling workload: the ioloop echo server as a group of 1, 2, ...
	// loops, up to the CPUs the suite may use, at these connection counts
	// and one message size.
	scalingConns []int
	scalingSize  int

	// The UDP echo workload: udpClients sockets (one configuration per
	// entry), each with udpInFlight datagrams of udpSize bytes in flight,
	// against servers whose ioloop contenders keep udpDepth receives in
	// flight; warm-up, windows and perf as the echo workload's.
	udpClients  []int
	udpInFlight int
	udpSize     int
	udpDepth    int

	kv kvConfig // the kv workload (runner_kv.go)
}

func fullConfig() config {
	return config{
		reps:      2,
		echoConns: []int{1, 64, 1000, 10000}, echoSizes: []int{64, 4096},
		warmup: 500 * time.Millisecond, window: 3 * time.Second, perfWindow: time.Second,
		idleConns: 10000, idleSettle: time.Second,
		nopBatches: []int{1, 8, 32, 128}, nopDuration: 2 * time.Second,
		readFile: "/tmp/ioloop-bench.dat", readFileSize: 1 << 30,
		readQDs: []int{1, 16, 64, 256}, readDuration: 3 * time.Second,
		walNs: []int{1, 8, 64}, walDuration: 2 * time.Second,
		timers: 1_000_000, timerSpan: 5 * time.Second,
		burstTimers: 100_000, burstSpan: 200 * time.Millisecond,
		scalingConns: []int{64, 1000}, scalingSize: 64,
		udpClients: []int{1, 16, 64}, udpInFlight: 4, udpSize: 64, udpDepth: udp.DefaultDepth,
		kv: fullKVConfig(),
	}
}

func quickConfig() config {
	return config{
		reps:      1,
		echoConns: []int{100}, echoSizes: []int{64, 4096},
		warmup: 100 * time.Millisecond, window: 300 * time.Millisecond, perfWindow: 200 * time.Millisecond,
		idleConns: 1000, idleSettle: 200 * time.Millisecond,
		nopBatches: []int{1, 128}, nopDuration: 200 * time.Millisecond,
		readFile: "/tmp/ioloop-bench-quick.dat", readFileSize: 64 << 20,
		readQDs: []int{1, 64}, readDuration: 300 * time.Millisecond,
		walNs: []int{8}, walDuration: 200 * time.Millisecond,
		timers: 100_000, timerSpan: time.Second,
		burstTimers: 100_000, burstSpan: 200 * time.Millisecond,
		scalingConns: []int{64}, scalingSize: 64,
		udpClients: []int{16}, udpInFlight: 4, udpSize: 64, udpDepth: udp.DefaultDepth,
		kv: quickKVConfig(),
	}
}

// describe lists the settings for the results file.
func (c config) describe() []string {
	return []string{
		fmt.Sprintf("echo: conns %v, sizes %v B, warm-up %v, measured %v, then %v with perf", c.echoConns, c.echoSizes, c.warmup, c.window, c.perfWindow),
		fmt.Sprintf("memory: %d idle connections, %v settle", c.idleConns, c.idleSettle),
		fmt.Sprintf("dispatch: batches %v, %v each (after a tenth of that as warm-up)", c.nopBatches, c.nopDuration),
		fmt.Sprintf("reads: %s (%d MiB), QD %v, %v each (after a tenth as warm-up)", c.readFile, c.readFileSize>>20, c.readQDs, c.readDuration),
		fmt.Sprintf("wal: 4 KiB appends, N = %v in flight, methods %v, %v each (after a tenth as warm-up)", c.walNs, files.WALMethods, c.walDuration),
		fmt.Sprintf("timers: %d, durations uniform in [0, %v), scheduled %d per pass; burst: %d in [0, %v) from one callback",
			c.timers, c.timerSpan, timers.ScheduleChunk, c.burstTimers, c.burstSpan),
		fmt.Sprintf("scaling: ioloop-io_uring echo as a group of 1..CPUs loops, conns %v × %d B, warm-up %v, measured %v, no perf window",
			c.scalingConns, c.scalingSize, c.warmup, c.window),
		fmt.Sprintf("udp: echo of %d B datagrams, clients %v × %d in flight each, ioloop servers with %d receives in flight, warm-up %v, measured %v, then %v with perf",
			c.udpSize, c.udpClients, c.udpInFlight, c.udpDepth, c.warmup, c.window, c.perfWindow),
		c.kv.describe(),
	}
}
