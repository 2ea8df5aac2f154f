//go:build !windows

package perf

import "testing"

func TestParsePerfCount(t *testing.T) {
	output := "Events disabled\nEvents enabled\nEvents disabled\n5897,,raw_syscalls:sys_enter,504034767,100.00,,\n"
	if n, err := ParseCount(output); err != nil || n != 5897 {
		t.Errorf("got %d, %v; want 5897", n, err)
	}
	for _, bad := range []string{
		"<not counted>,,raw_syscalls:sys_enter,0,100.00,,\n",
		"<not supported>,,raw_syscalls:sys_enter,0,100.00,,\n",
		"Error:\nNo permission to enable raw_syscalls:sys_enter event.\n",
		"",
	} {
		if n, err := ParseCount(bad); err == nil {
			t.Errorf("ParseCount(%q) = %d, want an error", bad, n)
		}
	}
}
