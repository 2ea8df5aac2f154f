//go:build !windows

package main

import "testing"

// TestAcknowledgedWritesSurviveCrashes: with the fsync policy "always",
// every acknowledged write survives the crashes of seeds 1..100 (20 with
// -short or the race detector; `go run ./examples/kv -sim -seeds 500` runs
// more, and CI runs it).
func TestAcknowledgedWritesSurviveCrashes(t *testing.T) {
	t.Parallel()
	seeds := uint64(100)
	if testing.Short() || raceEnabled {
		seeds = 20
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		if r := simulate(seed, false, nil); r.violation != "" {
			t.Fatalf("%v\nreplay: go run ./examples/kv -sim -seed %d -trace", r, seed)
		} else if r.acknowledged == 0 {
			t.Fatalf("%v: no write was acknowledged", r)
		}
	}
}

// TestAcknowledgingBeforeDurableIsCaught: the buggy twin, which replies
// before its batch is durable, loses an acknowledged write within 500
// seeds.
func TestAcknowledgingBeforeDurableIsCaught(t *testing.T) {
	for seed := uint64(1); seed <= 500; seed++ {
		if r := simulate(seed, true, nil); r.violation != "" {
			t.Logf("caught at seed %d: %s", seed, r.violation)
			return
		}
	}
	t.Fatal("acknowledging before the append-only file is durable survived 500 seeds")
}

func TestSimReplayGivesTheSameTrace(t *testing.T) {
	for _, seed := range []uint64{3, 17} {
		a, b := simulate(seed, false, nil), simulate(seed, false, nil)
		if a.traceHash != b.traceHash || a.ops != b.ops {
			t.Fatalf("seed %d ran differently twice: %v / %v", seed, a, b)
		}
	}
	if simulate(3, false, nil).traceHash == simulate(4, false, nil).traceHash {
		t.Fatal("seeds 3 and 4 gave the same trace")
	}
}
