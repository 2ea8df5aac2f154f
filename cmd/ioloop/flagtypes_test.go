//go:build !windows

package main

import (
	"testing"
)

func TestByteSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "4096": 4096, "64K": 64 << 10, "64k": 64 << 10, "512M": 512 << 20,
		"1G": 1 << 30, "1GiB": 1 << 30, "1gb": 1 << 30, "2T": 2 << 40, " 8K ": 8 << 10,
	}
	for text, want := range good {
		var s byteSize
		if err := s.Set(text); err != nil || int64(s) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", text, s, err, want)
		}
	}
	for _, text := range []string{"", "K", "-1", "1.5G", "12X", "1e9", "99999999999T"} {
		var s byteSize
		if err := s.Set(text); err == nil {
			t.Errorf("Set(%q) = %d, want an error", text, s)
		}
	}
}
