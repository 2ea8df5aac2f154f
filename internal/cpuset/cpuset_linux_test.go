package cpuset

import (
	"runtime"
	"slices"
	"testing"
)

func TestAllowed(t *testing.T) {
	cpus, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) == 0 || len(cpus) > runtime.NumCPU() || !slices.IsSorted(cpus) {
		t.Errorf("Allowed() = %v, want 1..%d CPUs in ascending order", cpus, runtime.NumCPU())
	}
	if Of(cpus...).Count() != len(cpus) {
		t.Errorf("Of(%v) holds %d CPUs", cpus, Of(cpus...).Count())
	}
}

// TestPinThread binds a locked thread, which the runtime discards when its
// goroutine ends without unlocking it.
func TestPinThread(t *testing.T) {
	cpus, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []int)
	go func() {
		runtime.LockOSThread()
		if err := PinThread(cpus[0]); err != nil {
			t.Error(err)
		}
		got, _ := Allowed()
		done <- got
	}()
	if got := <-done; !slices.Equal(got, cpus[:1]) {
		t.Errorf("a thread pinned to CPU %d may run on %v", cpus[0], got)
	}
}
