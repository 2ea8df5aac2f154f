package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ioloop/ioloop"
)

// byteSize is a flag.Value for a byte count with an optional binary
// suffix: 4096, 64K, 512M, 1G (K, M, G, T are powers of 1024; a trailing
// "B" or "iB" is accepted, so 1GiB works too).
type byteSize int64

func (s *byteSize) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *byteSize) Set(text string) error {
	t := strings.ToUpper(strings.TrimSpace(text))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	shift := 0
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift != 0 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("want a non-negative byte count such as 4096, 64K or 1G")
	}
	if n > (1<<62)>>shift {
		return fmt.Errorf("%s is too large", text)
	}
	*s = byteSize(n << shift)
	return nil
}

// backendFlag is a flag.Value for Options.Backend, parsed by
// ioloop.ParseBackend so that the CLI accepts exactly the names the library
// and IOLOOP_BACKEND accept. The zero value is BackendAuto.
type backendFlag struct{ ioloop.Backend }

func (b *backendFlag) String() string { return b.Backend.String() }

func (b *backendFlag) Set(text string) error {
	backend, err := ioloop.ParseBackend(text)
	if err != nil {
		// The flag package names the flag and the value in front.
		return errors.New(withoutLibraryPrefix(err))
	}
	b.Backend = backend
	return nil
}

// choiceFlag is a flag.Value that accepts one of a fixed set of words (the
// first is the default), so that a typo is a usage error naming the
// choices rather than a silently different benchmark.
type choiceFlag struct {
	value   string
	choices []string
}

func newChoiceFlag(choices ...string) *choiceFlag {
	return &choiceFlag{value: choices[0], choices: choices}
}

func (c *choiceFlag) String() string { return c.value }

func (c *choiceFlag) Set(text string) error {
	if !slices.Contains(c.choices, text) {
		return fmt.Errorf("want one of %s", strings.Join(c.choices, ", "))
	}
	c.value = text
	return nil
}

// listFlag is a flag.Value for a comma-separated list of words from a
// fixed set.
type listFlag struct {
	values  []string
	choices []string
}

func (f *listFlag) String() string { return strings.Join(f.values, ",") }

func (f *listFlag) Set(text string) error {
	var values []string
	for v := range strings.SplitSeq(text, ",") {
		if !slices.Contains(f.choices, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(f.choices, ", "))
		}
		if !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	f.values = values
	return nil
}
