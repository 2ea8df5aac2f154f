//go:build !windows

// Command dst is a worked example of deterministic simulation testing with
// ioloop: a write-ahead log served over TCP (wal.go), a client that checks
// that every acknowledged write survives crashes (client.go), and this
// driver, which runs them on a simulated world across many seeds with
// network and disk faults and crashes, and reports the first seed that
// breaks the promise, with the command that replays it.
//
//	go run ./examples/dst -seeds 1000          # the correct server: every seed passes
//	go run ./examples/dst -seeds 1000 -buggy   # acknowledges before Fsync: fails, prints the seed
//	go run ./examples/dst -seed 42 -buggy -trace   # replay one seed, printing its trace
//	go run ./examples/dst -segments -seeds 500         # a new file per record: temp, fsync, rename, fsync dir
//	go run ./examples/dst -segments -seeds 500 -buggy  # skips the directory's Fsync: fails
package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/ioloop/ioloop/sim"
)

func main() {
	seeds := flag.Int("seeds", 100, "number of seeds to run")
	first := flag.Uint64("start", 1, "first seed")
	one := flag.Uint64("seed", 0, "run only this seed (replay)")
	buggy := flag.Bool("buggy", false, "run the buggy server: it acknowledges before Fsync completes (with -segments: before the directory's Fsync)")
	segments := flag.Bool("segments", false, "store each record as a new segment file (write temp, fsync, rename, fsync dir) instead of appending to one log")
	trace := flag.Bool("trace", false, "print the simulation trace (with -seed)")
	flag.Parse()
	v := variantLog
	if *segments {
		v = variantSegments
	}

	if *one != 0 {
		var out io.Writer
		if *trace {
			out = os.Stdout
		}
		r := simulate(*one, v, *buggy, out)
		fmt.Println(r)
		if r.violation != "" {
			os.Exit(1)
		}
		return
	}
	began := time.Now()
	var ops, crashes uint64
	var virtual time.Duration
	for i := 0; i < *seeds; i++ {
		seed := *first + uint64(i)
		r := simulate(seed, v, *buggy, nil)
		ops += r.ops
		crashes += uint64(r.crashes)
		virtual += r.virtual
		if r.violation != "" {
			fmt.Printf("seed %d FAILED after %d seeds: %s\n", seed, i+1, r.violation)
			fmt.Printf("replay: go run ./examples/dst -seed %d%s%s -trace\n", seed,
				map[bool]string{true: " -segments"}[*segments], map[bool]string{true: " -buggy"}[*buggy])
			os.Exit(1)
		}
		if (i+1)%100 == 0 {
			fmt.Fprintf(os.Stderr, "%d seeds passed (%.1fs)\n", i+1, time.Since(began).Seconds())
		}
	}
	wall := time.Since(began)
	fmt.Printf("all %d seeds passed in %.1fs: %d crashes, %.0f s of virtual time, %d operations (%.2f µs each)\n",
		*seeds, wall.Seconds(), crashes, virtual.Seconds(), ops, float64(wall.Microseconds())/float64(ops))
}

// result is what one seed's simulation found.
type result struct {
	seed      uint64
	violation string
	crashes   int
	acked     int
	ops       uint64
	virtual   time.Duration
	traceHash string
}

func (r result) String() string {
	verdict := "ok"
	if r.violation != "" {
		verdict = "FAILED: " + r.violation
	}
	return fmt.Sprintf("seed %d: %s (%d records acknowledged, %d crashes, %v virtual, %d operations, trace %s)",
		r.seed, verdict, r.acked, r.crashes, r.virtual, r.ops, r.traceHash)
}

// Scenario limits (virtual time).
const (
	runTime     = 3 * time.Second  // faults and crashes happen during this
	settleLimit = 60 * time.Second // then the world heals; the client must verify by then
)

// simulate runs one seed: a database node and a client node, with faults,
// and crashes of the database at random times.
func simulate(seed uint64, v variant, buggy bool, trace io.Writer) result {
	faults := sim.DefaultFaults()
	// A bad sector under synced data is media loss, which one copy of a
	// log cannot survive; this example tests crash safety, so its disk
	// errors are transient.
	faults.StickyErrors = 0
	w := sim.NewWorld(sim.Options{Seed: seed, Faults: faults})
	w.SetTrace(trace)
	db, app := w.AddNode("db"), w.AddNode("app")
	listen := netip.AddrPortFrom(db.Addr(), 7000)

	server := newWALServer(db.Loop(), v, listen, buggy)
	server.start()
	client := newWALClient(app.Loop(), listen)
	client.start()

	r := result{seed: seed}
	rand := w.Rand()
	nextCrash := rand.Duration(0, runTime)
	restart := func() {
		server = newWALServer(db.Restart(), v, listen, buggy)
		server.start()
	}
	for w.Elapsed() < runTime && client.violation == "" {
		w.RunFor(min(5*time.Millisecond, runTime-w.Elapsed()))
		switch {
		case server.failed != "":
			// The server stopped itself (a failed Fsync): its supervisor
			// restarts the machine.
			w.Note("db stopped: " + server.failed)
			db.Crash()
			r.crashes++
			restart()
		case w.Elapsed() >= nextCrash:
			db.Crash()
			r.crashes++
			w.RunFor(rand.Duration(time.Millisecond, 300*time.Millisecond))
			restart()
			nextCrash = w.Elapsed() + rand.Duration(0, runTime)
		}
	}
	// Heal the world, crash the database one last time, and wait for a
	// complete read-back that began after the restart.
	w.HealAll()
	if client.violation == "" {
		db.Crash()
		r.crashes++
		restart()
		restarted := w.Now()
		w.RunUntil(settleLimit, func() bool {
			if server.failed != "" {
				db.Crash()
				r.crashes++
				restart()
			}
			return client.violation != "" || client.verifiedSince.After(restarted)
		})
		if client.violation == "" && !client.verifiedSince.After(restarted) {
			client.violation = "the client never completed a read-back after the last restart"
		}
	}
	stats := w.Stats()
	r.violation, r.acked = client.violation, len(client.acked)
	r.ops, r.virtual, r.traceHash = stats.Operations, w.Elapsed(), w.TraceHash()
	return r
}
