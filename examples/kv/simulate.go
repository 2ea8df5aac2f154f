//go:build !windows

package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/ioloop/ioloop/sim"
)

// The crash test: the server, with its append-only file under the fsync
// policy "always", runs on a simulated world (package sim) with network
// and disk faults and crashes of its node; clients on other nodes check
// that every write it acknowledged survives (simclient.go). The buggy
// twin acknowledges before the file is durable, and the seeds must catch
// it, as examples/dst does for its write-ahead log.
//
//	go run ./examples/kv -sim -seeds 500          # every seed passes
//	go run ./examples/kv -sim -seeds 500 -buggy   # fails, printing the seed
//	go run ./examples/kv -sim -seed 7 -buggy -trace

// simResult is what one seed's simulation found.
type simResult struct {
	seed         uint64
	violation    string
	crashes      int
	acknowledged int
	requests     int
	ops          uint64
	virtual      time.Duration
	traceHash    string
}

func (r simResult) String() string {
	verdict := "ok"
	if r.violation != "" {
		verdict = "FAILED: " + r.violation
	}
	return fmt.Sprintf("seed %d: %s (%d of %d writes acknowledged, %d crashes, %v virtual, %d operations, trace %s)",
		r.seed, verdict, r.acknowledged, r.requests, r.crashes, r.virtual, r.ops, r.traceHash)
}

// Scenario limits (virtual time), as examples/dst's.
const (
	simRunTime     = 3 * time.Second  // faults and crashes happen during this
	simSettleLimit = 60 * time.Second // then the world heals; every client must read back by then
	simAOFPath     = "/data/appendonly.aof"
	simClients     = 2
	simKeysPerNode = 6
)

// simulate runs one seed: a database node and simClients client nodes,
// with faults, and crashes of the database at random times.
func simulate(seed uint64, buggy bool, trace io.Writer) simResult {
	faults := sim.DefaultFaults()
	// A bad sector under synced data is media loss, which one copy of a
	// file cannot survive; this tests crash safety, so disk errors are
	// transient.
	faults.StickyErrors = 0
	w := sim.NewWorld(sim.Options{Seed: seed, Faults: faults})
	w.SetTrace(trace)
	db := w.AddNode("db")
	if err := db.MkdirAll("/data"); err != nil {
		panic(err)
	}
	addr := netip.AddrPortFrom(db.Addr(), 6379)
	server := startInstance(db.Loop(), addr.String(), simAOFPath, fsyncAlways, buggy, connOptions(), nil)
	var clients []*simClient
	for i := range simClients {
		name := fmt.Sprintf("app%d", i+1)
		c := newSimClient(w.AddNode(name).Loop(), addr, name, w.Rand(), simKeysPerNode)
		c.start()
		clients = append(clients, c)
	}
	violation := func() string {
		for _, c := range clients {
			if c.violation != "" {
				return c.violation
			}
		}
		return ""
	}

	r := simResult{seed: seed}
	rand := w.Rand()
	restart := func() {
		server = startInstance(db.Restart(), addr.String(), simAOFPath, fsyncAlways, buggy, connOptions(), nil)
	}
	crash := func(why string) {
		w.Note("crash db: " + why)
		db.Crash()
		r.crashes++
	}
	nextCrash := rand.Duration(0, simRunTime)
	for w.Elapsed() < simRunTime && violation() == "" {
		w.RunFor(min(5*time.Millisecond, simRunTime-w.Elapsed()))
		switch {
		case server.failure != nil:
			// The server stopped itself (its file failed): its supervisor
			// restarts the machine.
			crash("stopped: " + server.failure.Error())
			restart()
		case w.Elapsed() >= nextCrash:
			crash("at random")
			w.RunFor(rand.Duration(time.Millisecond, 300*time.Millisecond))
			restart()
			nextCrash = w.Elapsed() + rand.Duration(0, simRunTime)
		}
	}
	// Heal the world, crash the database one last time, and wait for every
	// client's complete read-back that began after the restart.
	w.HealAll()
	if violation() == "" {
		crash("the last time")
		restart()
		restarted := w.Now()
		w.RunUntil(simSettleLimit, func() bool {
			if server.failure != nil {
				crash(server.failure.Error())
				restart()
			}
			if violation() != "" {
				return true
			}
			for _, c := range clients {
				if !c.verified.After(restarted) {
					return false
				}
			}
			return true
		})
		for _, c := range clients {
			if violation() == "" && !c.verified.After(restarted) {
				c.violation = c.name + " never completed a read-back after the last restart"
			}
		}
	}
	stats := w.Stats()
	r.violation = violation()
	for _, c := range clients {
		r.acknowledged += c.acknowledged
		r.requests += c.requests
	}
	r.ops, r.virtual, r.traceHash = stats.Operations, w.Elapsed(), w.TraceHash()
	return r
}

// runSeeds is the -sim command: seeds from first on, stopping at the
// first that breaks the promise; it returns the exit code.
func runSeeds(first uint64, seeds int, one uint64, buggy, trace bool) int {
	if one != 0 {
		var out io.Writer
		if trace {
			out = os.Stdout
		}
		r := simulate(one, buggy, out)
		fmt.Println(r)
		if r.violation != "" {
			return 1
		}
		return 0
	}
	began := time.Now()
	var ops uint64
	var crashes, acked, requests int
	var virtual time.Duration
	for i := range seeds {
		seed := first + uint64(i)
		r := simulate(seed, buggy, nil)
		ops += r.ops
		crashes += r.crashes
		acked += r.acknowledged
		requests += r.requests
		virtual += r.virtual
		if r.violation != "" {
			fmt.Printf("seed %d FAILED after %d seeds: %s\n", seed, i+1, r.violation)
			fmt.Printf("replay: go run ./examples/kv -sim -seed %d%s -trace\n", seed, map[bool]string{true: " -buggy"}[buggy])
			return 1
		}
		if (i+1)%100 == 0 {
			fmt.Fprintf(os.Stderr, "%d seeds passed (%.1fs)\n", i+1, time.Since(began).Seconds())
		}
	}
	fmt.Printf("all %d seeds passed in %.1fs: %d crashes, %d of %d writes acknowledged, %.0f s of virtual time, %d operations\n",
		seeds, time.Since(began).Seconds(), crashes, acked, requests, virtual.Seconds(), ops)
	return 0
}
