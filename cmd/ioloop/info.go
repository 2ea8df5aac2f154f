package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/internal/uring"
	"golang.org/x/sys/unix"
)

// infoResult is what `ioloop info` reports; the JSON field names are a
// stable interface for scripts.
type infoResult struct {
	Kernel  kernelInfo `json:"kernel"`
	Sysctl  sysctlInfo `json:"io_uring_disabled"`
	Loop    loopInfo   `json:"loop"`
	Ring    *ringInfo  `json:"ring,omitempty"`
	RingErr string     `json:"ring_error,omitempty"`
}

type kernelInfo struct {
	Release string `json:"release"`
	Version string `json:"version"`
	Machine string `json:"machine"`
}

// sysctlInfo is /proc/sys/kernel/io_uring_disabled (Linux 6.6+): 0 allows
// io_uring, 1 restricts it to kernel.io_uring_group, 2 disables it.
type sysctlInfo struct {
	Present bool   `json:"present"`
	Value   string `json:"value,omitempty"`
	Meaning string `json:"meaning"`
}

// loopInfo says whether ioloop.New works and, if not, why, in the words of
// the library's *SetupError.
type loopInfo struct {
	OK      bool   `json:"ok"`
	Backend string `json:"backend,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
}

type ringInfo struct {
	SQEntries  uint32            `json:"sq_entries"`
	CQEntries  uint32            `json:"cq_entries"`
	Features   []string          `json:"features"`
	Opcodes    []string          `json:"opcodes"`
	ProbeError string            `json:"probe_error,omitempty"`
	SetupFlags []setupFlagResult `json:"setup_flags"`
}

// setupFlagResult is whether io_uring_setup accepts one IORING_SETUP_* flag
// (with the flags it depends on).
type setupFlagResult struct {
	Name     string `json:"name"`
	Accepted bool   `json:"accepted"`
	Error    string `json:"error,omitempty"`
}

// setupFlagProbes are the setup flags the uring package knows, each with
// the flags the kernel requires alongside it (TASKRUN_FLAG needs
// COOP_TASKRUN or DEFER_TASKRUN; DEFER_TASKRUN needs SINGLE_ISSUER), so
// that a rejection means the kernel lacks the flag, not a bad combination.
// uring.Setup always adds CLAMP, so every probe includes it. Which opcodes
// the loop needs is the library's business: when the kernel lacks one,
// ioloop.New fails and its SetupError names it.
var setupFlagProbes = []struct {
	name  string
	flags uint32
}{
	{"CQSIZE", uring.SetupCQSize},
	{"CLAMP", uring.SetupClamp},
	{"SUBMIT_ALL", uring.SetupSubmitAll},
	{"COOP_TASKRUN", uring.SetupCoopTaskrun},
	{"TASKRUN_FLAG", uring.SetupCoopTaskrun | uring.SetupTaskrunFlag},
	{"SINGLE_ISSUER", uring.SetupSingleIssuer},
	{"DEFER_TASKRUN", uring.SetupSingleIssuer | uring.SetupDeferTaskrun},
}

func runInfo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ioloop info", "ioloop info [-json]", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	info, err := gatherInfo()
	if err != nil {
		return fail(stderr, fs.Name(), err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(info)
	} else {
		err = writeInfoText(stdout, info)
	}
	if err != nil {
		return fail(stderr, fs.Name(), err)
	}
	return exitOK
}

func gatherInfo() (infoResult, error) {
	var info infoResult
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return info, fmt.Errorf("uname: %w", err)
	}
	info.Kernel = kernelInfo{
		Release: unix.ByteSliceToString(uts.Release[:]),
		Version: unix.ByteSliceToString(uts.Version[:]),
		Machine: unix.ByteSliceToString(uts.Machine[:]),
	}
	info.Sysctl = readIOURingDisabled()
	info.Loop = probeLoop()
	info.Ring, info.RingErr = probeRing()
	return info, nil
}

func readIOURingDisabled() sysctlInfo {
	raw, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return sysctlInfo{Meaning: "absent (kernel before 6.6): io_uring is not limited by sysctl"}
		}
		return sysctlInfo{Meaning: "unreadable: " + err.Error()}
	}
	value := strings.TrimSpace(string(raw))
	meaning := "unknown value"
	switch value {
	case "0":
		meaning = "io_uring allowed for all processes"
	case "1":
		meaning = "io_uring restricted to CAP_SYS_ADMIN and members of kernel.io_uring_group"
	case "2":
		meaning = "io_uring disabled for all processes"
	}
	return sysctlInfo{Present: true, Value: value, Meaning: meaning}
}

// probeLoop creates a Loop exactly as an application would, so the answer
// includes every check the library makes (features, opcodes, setup flags).
func probeLoop() loopInfo {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		result := loopInfo{Error: err.Error()}
		var setupErr *ioloop.SetupError
		if errors.As(err, &setupErr) {
			result.Backend = setupErr.Backend.String()
			result.Reason = setupErr.Reason
		}
		return result
	}
	result := loopInfo{OK: true, Backend: loop.Backend().String()}
	if err := loop.Close(); err != nil {
		result.Error = "closing the probe loop: " + err.Error()
	}
	return result
}

// probeRing sets up a small raw ring to read the kernel's features and
// opcode table. A failure here is reported, not fatal: it is exactly what a
// machine without io_uring looks like.
func probeRing() (*ringInfo, string) {
	ring, err := uring.Setup(8, 0, 0)
	if err != nil {
		return nil, "io_uring_setup: " + err.Error()
	}
	defer func() { _ = ring.Close() }()
	params := ring.Params()
	info := &ringInfo{
		SQEntries: ring.SQEntries(),
		CQEntries: ring.CQEntries(),
		Features:  uring.FeatureNames(params.Features),
	}
	supported, err := ring.Probe()
	if err != nil {
		info.ProbeError = "IORING_REGISTER_PROBE: " + err.Error()
	}
	for op, ok := range supported {
		if ok {
			info.Opcodes = append(info.Opcodes, uring.OpName(uint8(op)))
		}
	}
	for _, probe := range setupFlagProbes {
		result := setupFlagResult{Name: probe.name}
		cq := uint32(0)
		if probe.flags&uring.SetupCQSize != 0 {
			cq = 32 // CQSIZE needs an explicit CQ size
		}
		if flagRing, err := uring.Setup(8, cq, probe.flags); err != nil {
			result.Error = err.Error()
		} else {
			result.Accepted = true
			if err := flagRing.Close(); err != nil {
				result.Error = "close: " + err.Error()
			}
		}
		info.SetupFlags = append(info.SetupFlags, result)
	}
	return info, ""
}

func writeInfoText(w io.Writer, info infoResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel:            %s %s (%s)\n", info.Kernel.Release, info.Kernel.Machine, info.Kernel.Version)
	if info.Sysctl.Present {
		fmt.Fprintf(&b, "io_uring_disabled: %s (%s)\n", info.Sysctl.Value, info.Sysctl.Meaning)
	} else {
		fmt.Fprintf(&b, "io_uring_disabled: %s\n", info.Sysctl.Meaning)
	}
	if info.Loop.OK {
		fmt.Fprintf(&b, "loop backend:      %s\n", info.Loop.Backend)
	} else {
		fmt.Fprintf(&b, "loop backend:      none: ioloop.New failed\n")
		if info.Loop.Reason != "" {
			fmt.Fprintf(&b, "  reason:          %s\n", info.Loop.Reason)
		}
		fmt.Fprintf(&b, "  error:           %s\n", info.Loop.Error)
	}
	if info.Ring == nil {
		fmt.Fprintf(&b, "io_uring:          unavailable (%s)\n", info.RingErr)
		_, err := io.WriteString(w, b.String())
		return err
	}
	ring := info.Ring
	fmt.Fprintf(&b, "io_uring:          works (probe ring: %d SQ / %d CQ entries)\n", ring.SQEntries, ring.CQEntries)
	fmt.Fprintf(&b, "features (%d):     %s\n", len(ring.Features), strings.Join(ring.Features, " "))
	if ring.ProbeError != "" {
		fmt.Fprintf(&b, "opcodes:           unknown (%s)\n", ring.ProbeError)
	} else {
		fmt.Fprintf(&b, "opcodes (%d):\n", len(ring.Opcodes))
		writeWrapped(&b, ring.Opcodes, "  ", 76)
	}
	fmt.Fprintf(&b, "setup flags:\n")
	for _, f := range ring.SetupFlags {
		verdict := "accepted"
		if !f.Accepted {
			verdict = "rejected: " + f.Error
		} else if f.Error != "" {
			verdict = "accepted (" + f.Error + ")"
		}
		fmt.Fprintf(&b, "  %-14s %s\n", f.Name, verdict)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeWrapped prints words separated by spaces, wrapped at width columns.
func writeWrapped(b *strings.Builder, words []string, indent string, width int) {
	line := indent
	for _, word := range words {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		b.WriteString(line + "\n")
	}
}
