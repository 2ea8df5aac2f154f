package main

import "testing"

func TestCorrectServerPassesSeeds(t *testing.T) {
	t.Parallel() // worlds share nothing: the two long tests take a core each
	seeds := uint64(200)
	if testing.Short() {
		seeds = 20
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		if r := simulate(seed, variantLog, false, nil); r.violation != "" {
			t.Fatalf("%v\nreplay: go run ./examples/dst -seed %d -trace", r, seed)
		}
	}
}

func TestBuggyServerIsCaught(t *testing.T) {
	for seed := uint64(1); seed <= 500; seed++ {
		if r := simulate(seed, variantLog, true, nil); r.violation != "" {
			t.Logf("caught at seed %d: %s", seed, r.violation)
			return
		}
	}
	t.Fatal("acknowledging before Fsync survived 500 seeds")
}

// TestSegmentsSurviveSeeds: write temp, fsync, rename, fsync dir keeps
// every acknowledged record through 500 seeds of crashes.
func TestSegmentsSurviveSeeds(t *testing.T) {
	t.Parallel()
	seeds := uint64(500)
	if testing.Short() {
		seeds = 20
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		if r := simulate(seed, variantSegments, false, nil); r.violation != "" {
			t.Fatalf("%v\nreplay: go run ./examples/dst -segments -seed %d -trace", r, seed)
		}
	}
}

// TestSegmentsWithoutDirFsyncAreCaught: skipping the directory's Fsync
// loses renamed, acknowledged segments, and the simulator must find it.
func TestSegmentsWithoutDirFsyncAreCaught(t *testing.T) {
	for seed := uint64(1); seed <= 500; seed++ {
		if r := simulate(seed, variantSegments, true, nil); r.violation != "" {
			t.Logf("caught at seed %d: %s", seed, r.violation)
			return
		}
	}
	t.Fatal("renaming segments without syncing their directory survived 500 seeds")
}

func TestReplayGivesTheSameTrace(t *testing.T) {
	for _, v := range []variant{variantLog, variantSegments} {
		for _, seed := range []uint64{3, 17} {
			a, b := simulate(seed, v, false, nil), simulate(seed, v, false, nil)
			if a.traceHash != b.traceHash || a.ops != b.ops {
				t.Fatalf("%v, seed %d ran differently twice: %v / %v", v, seed, a, b)
			}
		}
		if simulate(3, v, false, nil).traceHash == simulate(4, v, false, nil).traceHash {
			t.Fatalf("%v: seeds 3 and 4 gave the same trace", v)
		}
	}
}
