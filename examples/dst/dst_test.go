//go:build !windows

package main

import "testing"

// passes fails the test unless the correct server of variant v keeps every
// acknowledged record through seeds 1..seeds (20 with -short).
func passes(t *testing.T, v variant, seeds uint64) {
	t.Helper()
	if testing.Short() {
		seeds = 20
	}
	flag := map[variant]string{variantSegments: " -segments"}[v]
	for seed := uint64(1); seed <= seeds; seed++ {
		if r := simulate(seed, v, false, nil); r.violation != "" {
			t.Fatalf("%v\nreplay: go run ./examples/dst%s -seed %d -trace", r, flag, seed)
		}
	}
}

// caught fails the test unless the buggy server of variant v loses an
// acknowledged record within 500 seeds, and logs the first seed that did.
func caught(t *testing.T, v variant, bug string) {
	t.Helper()
	for seed := uint64(1); seed <= 500; seed++ {
		if r := simulate(seed, v, true, nil); r.violation != "" {
			t.Logf("caught at seed %d: %s", seed, r.violation)
			return
		}
	}
	t.Fatal(bug + " survived 500 seeds")
}

func TestCorrectServerPassesSeeds(t *testing.T) {
	t.Parallel() // worlds share nothing: the two long tests take a core each
	passes(t, variantLog, 200)
}

func TestBuggyServerIsCaught(t *testing.T) {
	caught(t, variantLog, "acknowledging before Fsync")
}

// TestSegmentsSurviveSeeds: write temp, fsync, rename, fsync dir keeps
// every acknowledged record through 500 seeds of crashes.
func TestSegmentsSurviveSeeds(t *testing.T) {
	t.Parallel()
	passes(t, variantSegments, 500)
}

// TestSegmentsWithoutDirFsyncAreCaught: skipping the directory's Fsync
// loses renamed, acknowledged segments, and the simulator must find it.
func TestSegmentsWithoutDirFsyncAreCaught(t *testing.T) {
	caught(t, variantSegments, "renaming segments without syncing their directory")
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
