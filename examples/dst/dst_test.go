package main

import "testing"

func TestCorrectServerPassesSeeds(t *testing.T) {
	seeds := uint64(200)
	if testing.Short() {
		seeds = 20
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		if r := simulate(seed, false, nil); r.violation != "" {
			t.Fatalf("%v\nreplay: go run ./examples/dst -seed %d -trace", r, seed)
		}
	}
}

func TestBuggyServerIsCaught(t *testing.T) {
	for seed := uint64(1); seed <= 500; seed++ {
		if r := simulate(seed, true, nil); r.violation != "" {
			t.Logf("caught at seed %d: %s", seed, r.violation)
			return
		}
	}
	t.Fatal("acknowledging before Fsync survived 500 seeds")
}

func TestReplayGivesTheSameTrace(t *testing.T) {
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
