package ioloop

import "testing"

func init() {
	newPoolFallbackLoop = func(t *testing.T) *Loop {
		uringPretendNoBufRings = true
		l := newTestLoop(t, Options{Backend: BackendIOUring})
		uringPretendNoBufRings = false
		if l.backend.(*uringBackend).bufRings {
			t.Fatal("uringPretendNoBufRings left provided-buffer rings on")
		}
		return l
	}
}

func TestKernelAtLeast(t *testing.T) {
	for _, tc := range []struct {
		release      string
		major, minor int
		want         bool
	}{
		{"6.18.0-1-amd64", 6, 0, true},
		{"6.0", 6, 0, true},
		{"5.19.17", 6, 0, false},
		{"5.19.17", 5, 19, true},
		{"10.1rc2", 6, 0, true},
		{"6.1-rc1", 6, 2, false},
		{"garbage", 6, 0, false},
		{"", 6, 0, false},
	} {
		if got := kernelAtLeast(tc.release, tc.major, tc.minor); got != tc.want {
			t.Errorf("kernelAtLeast(%q, %d, %d) = %v, want %v", tc.release, tc.major, tc.minor, got, tc.want)
		}
	}
}
