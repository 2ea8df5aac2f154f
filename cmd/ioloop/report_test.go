//go:build !windows

package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReportFormats(t *testing.T) {
	r := newReport("ioloop_read").int("qd", 64).bool("direct", true).
		float("ops_per_sec", 91234.6, 0).float("cpu_us_per_op", 3.14159, 3).str("note", `a "b"`)

	var line strings.Builder
	if err := r.write(&line, false); err != nil {
		t.Fatal(err)
	}
	want := `name=ioloop_read qd=64 direct=true ops_per_sec=91235 cpu_us_per_op=3.142 note=a "b"` + "\n"
	if line.String() != want {
		t.Errorf("line = %q, want %q", line.String(), want)
	}

	var js strings.Builder
	if err := r.write(&js, true); err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"name":"ioloop_read","qd":64,"direct":true,"ops_per_sec":91235,"cpu_us_per_op":3.142,"note":"a \"b\""}` + "\n"
	if js.String() != wantJSON {
		t.Errorf("json = %q, want %q", js.String(), wantJSON)
	}
	var decoded map[string]any
	if err := json.Unmarshal([]byte(js.String()), &decoded); err != nil {
		t.Errorf("output is not valid JSON: %v", err)
	}
}
