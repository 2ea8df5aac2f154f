package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// report is one benchmark result: ordered key/value pairs printed either as
// the `name=... key=value ...` line that the C baselines in bench/c print
// too (so one grep/awk parses every tool), or as one JSON object
// with the same keys in the same order.
type report struct {
	fields []field
}

type field struct {
	key string
	// text is the value as printed in the key=value line; raw is the JSON
	// literal (numbers and booleans bare, strings quoted).
	text string
	raw  json.RawMessage
}

func newReport(name string) *report {
	r := &report{}
	r.str("name", name)
	return r
}

func (r *report) str(key, value string) *report {
	quoted, err := json.Marshal(value)
	if err != nil { // cannot happen for a string; keep the output valid anyway
		quoted = []byte(`""`)
	}
	r.fields = append(r.fields, field{key, value, quoted})
	return r
}

func (r *report) int(key string, value int64) *report {
	text := strconv.FormatInt(value, 10)
	r.fields = append(r.fields, field{key, text, json.RawMessage(text)})
	return r
}

func (r *report) bool(key string, value bool) *report {
	text := strconv.FormatBool(value)
	r.fields = append(r.fields, field{key, text, json.RawMessage(text)})
	return r
}

// float prints value with the given number of decimals, the same in both
// formats, so a JSON consumer sees the precision the line shows.
func (r *report) float(key string, value float64, decimals int) *report {
	text := strconv.FormatFloat(value, 'f', decimals, 64)
	r.fields = append(r.fields, field{key, text, json.RawMessage(text)})
	return r
}

func (r *report) write(w io.Writer, asJSON bool) error {
	var b strings.Builder
	if asJSON {
		b.WriteByte('{')
		for i, f := range r.fields {
			if i > 0 {
				b.WriteByte(',')
			}
			key, err := json.Marshal(f.key)
			if err != nil {
				return err
			}
			b.Write(key)
			b.WriteByte(':')
			b.Write(f.raw)
		}
		b.WriteString("}\n")
	} else {
		for i, f := range r.fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f.key)
			b.WriteByte('=')
			b.WriteString(f.text)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("writing result: %w", err)
	}
	return nil
}
