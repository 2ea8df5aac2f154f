//go:build !windows

// Command kv is a Redis-protocol (RESP2) key-value server on ioloop's
// connection layer (package conn): one loop, one goroutine, every
// connection's requests executed as they arrive, pipelined replies sent
// in one write per read, keys expiring on the loop's timers, and an
// optional append-only file whose "always" policy acknowledges a write
// only once it is durable, with group commit.
//
//	go run ./examples/kv -addr 127.0.0.1:6379
//	go run ./examples/kv -addr 127.0.0.1:6379 -aof /var/lib/kv/appendonly.aof -fsync always
//	redis-cli -p 6379 SET greeting hello
//
// With -sim it runs the crash test on the simulator instead (simulate.go):
//
//	go run ./examples/kv -sim -seeds 500
//	go run ./examples/kv -sim -seeds 500 -buggy
//
// README.md lists the commands, the policies and the measured figures.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/conn"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "address to listen on (IP:port, :port, [::1]:port)")
	aofPath := flag.String("aof", "", "append-only file (empty: none); replayed on start")
	fsync := flag.String("fsync", "everysec", "append-only file policy: always (a write is acknowledged once durable), everysec, no")
	backend := flag.String("backend", "auto", "loop backend: auto, io_uring, epoll")
	simMode := flag.Bool("sim", false, "run the crash test on the simulator instead of serving")
	seeds := flag.Int("seeds", 500, "-sim: number of seeds")
	first := flag.Uint64("start", 1, "-sim: first seed")
	one := flag.Uint64("seed", 0, "-sim: run only this seed (replay)")
	buggy := flag.Bool("buggy", false, "acknowledge writes before the append-only file is durable (the bug -sim must catch)")
	trace := flag.Bool("trace", false, "-sim with -seed: print the simulation trace")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the server to this file (until it exits)")
	pool := flag.Int("pool", 0, "receive through a buffer pool of this many 16 KiB buffers (multishot receives on io_uring; 0: a buffer per connection)")
	locked := flag.Bool("locked", true, "drive the loop from a locked OS thread (io_uring: SINGLE_ISSUER and DEFER_TASKRUN where the kernel has them)")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *simMode {
		os.Exit(runSeeds(*first, *seeds, *one, *buggy, *trace))
	}
	policy, err := parsePolicy(*fsync)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kv:", err)
		os.Exit(2)
	}
	b, err := ioloop.ParseBackend(*backend)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kv:", err)
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kv:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := serve(serveConfig{addr: *addr, backend: b, aofPath: *aofPath, policy: policy, buggy: *buggy, pool: *pool, locked: *locked}); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "kv:", err)
		os.Exit(1)
	}
}

// serveConfig is what main serves with.
type serveConfig struct {
	addr    string
	backend ioloop.Backend
	aofPath string
	policy  fsyncPolicy
	buggy   bool
	pool    int  // buffers in the receive pool (0: none)
	locked  bool // Options.LockedThread
}

// serve runs the server until SIGINT or SIGTERM, then closes it cleanly
// (instance.shutdown).
func serve(cfg serveConfig) error {
	if cfg.locked {
		// The loop's goroutine stays on this thread for the process's life.
		runtime.LockOSThread()
	}
	l, err := ioloop.New(ioloop.Options{Backend: cfg.backend, LockedThread: cfg.locked})
	if err != nil {
		return err
	}
	defer l.Close()
	opts := connOptions()
	if cfg.pool > 0 {
		if opts.Pool, err = ioloop.NewBufferPool(l, cfg.pool, 16<<10); err != nil {
			return err
		}
	}
	in := startInstance(l, cfg.addr, cfg.aofPath, cfg.policy, cfg.buggy, opts, func(in *instance) {
		fmt.Printf("listening %s\n", in.net.ln.Addr())
		aof := "no append-only file"
		if in.srv.aof != nil {
			aof = fmt.Sprintf("append-only file %s, fsync %v, %d bytes replayed", cfg.aofPath, cfg.policy, in.srv.aof.end())
		}
		fmt.Fprintf(os.Stderr, "kv: %s backend, %s\n", l.Backend(), aof)
	})
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		<-signals
		ioloop.Post(l, in, (*instance).shutdown)
	}()
	return in.run()
}

// instance is one running server on a loop: the program that main runs
// and the tests start in-process.
type instance struct {
	l       *ioloop.Loop
	srv     *server
	net     *kvNet
	done    bool
	failure error
	// stopping is when shutdown began (zero: it has not).
	stopping time.Time
}

// startInstance starts a server on l: it replays aofPath (if not empty),
// then listens on addr with opts and calls listening.
func startInstance(l *ioloop.Loop, addr, aofPath string, policy fsyncPolicy, buggy bool, opts conn.Options, listening func(*instance)) *instance {
	in := &instance{l: l, srv: newServer(l)}
	in.srv.buggy = buggy
	in.srv.onFail = func(reason string) {
		in.failure = fmt.Errorf("stopping: %s", reason)
		in.done = true
	}
	start := func() {
		k, err := listen(l, in.srv, addr, opts)
		if err != nil {
			in.failure, in.done = err, true
			return
		}
		in.net = k
		if listening != nil {
			listening(in)
		}
	}
	if aofPath != "" {
		in.srv.openAOF(aofPath, policy, start)
	} else {
		start()
	}
	return in
}

// shutdown closes the server: no more connections are accepted, every
// connection is closed gracefully (replies already released are sent
// first; replies still waiting for the file are dropped, their writes not
// acknowledged), the expiry timer ends, and the append-only file is closed
// once its last batch is written and synced. run returns then.
func (in *instance) shutdown() {
	if !in.stopping.IsZero() || in.done {
		return
	}
	in.stopping = time.Now()
	in.srv.stop()
	if in.net == nil {
		in.srv.closeWhenIdle(func() { in.done = true })
		return
	}
	in.net.close(func() {
		in.srv.closeWhenIdle(func() { in.done = true })
	})
}

// run drives the loop until the server has shut down or failed; a
// shutdown that takes more than 5 s is cut short.
func (in *instance) run() error {
	for !in.done {
		if err := in.l.RunFor(100 * time.Millisecond); err != nil {
			return err
		}
		if !in.stopping.IsZero() && time.Since(in.stopping) > 5*time.Second {
			return fmt.Errorf("connections did not close within 5 s of the signal")
		}
	}
	return in.failure
}
