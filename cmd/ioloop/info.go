package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ioloop/ioloop"
)

// infoResult is what `ioloop info` reports; the JSON field names are a
// stable interface for scripts. Sysctl and Ring exist only on Linux.
type infoResult struct {
	Kernel  kernelInfo  `json:"kernel"`
	Sysctl  *sysctlInfo `json:"io_uring_disabled,omitempty"`
	Loop    loopInfo    `json:"loop"`
	Ring    *ringInfo   `json:"ring,omitempty"`
	RingErr string      `json:"ring_error,omitempty"`
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

// loopInfo says which backend ioloop.New selects and why, or why it
// fails, in the words of the library's *SetupError.
type loopInfo struct {
	// Requested is Options.Backend: -backend, auto unless given.
	Requested string `json:"requested"`
	// EnvBackend is IOLOOP_BACKEND when it is set. The library honours it
	// only when auto is requested, which EnvApplies says.
	EnvBackend string `json:"env_backend,omitempty"`
	EnvApplies bool   `json:"env_applies,omitempty"`
	OK         bool   `json:"ok"`
	// Backend is the backend New selected, or the one that failed.
	Backend string `json:"backend,omitempty"`
	// FallbackReason is why auto did not select io_uring
	// (Loop.FallbackReason), when it fell back.
	FallbackReason string `json:"fallback_reason,omitempty"`
	Reason         string `json:"reason,omitempty"`
	Error          string `json:"error,omitempty"`
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

func runInfo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("ioloop info", "ioloop info [-backend B] [-json]", stderr)
	var backend backendFlag
	fs.Var(&backend, "backend", "`backend` to try: "+backendUsage)
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := checkBackendEnv(backend.Backend); err != nil {
		return envError(fs, err)
	}
	info, err := gatherInfo(backend.Backend)
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

func gatherInfo(requested ioloop.Backend) (infoResult, error) {
	var info infoResult
	kernel, err := probeKernel()
	if err != nil {
		return info, err
	}
	info.Kernel = kernel
	info.Loop = probeLoop(requested)
	info.Sysctl, info.Ring, info.RingErr = probeIOURing()
	return info, nil
}

// probeLoop creates a Loop exactly as an application would, so the answer
// includes every check the library makes (features, opcodes, setup flags)
// and its choice under BackendAuto, IOLOOP_BACKEND included.
func probeLoop(requested ioloop.Backend) loopInfo {
	result := loopInfo{Requested: requested.String(), EnvBackend: os.Getenv(ioloop.BackendEnv)}
	result.EnvApplies = result.EnvBackend != "" && requested == ioloop.BackendAuto
	loop, err := ioloop.New(ioloop.Options{Backend: requested})
	if err != nil {
		result.Error = err.Error()
		var setupErr *ioloop.SetupError
		if errors.As(err, &setupErr) {
			result.Backend = setupErr.Backend.String()
			result.Reason = setupErr.Reason
		}
		return result
	}
	result.OK, result.Backend = true, loop.Backend().String()
	if reason := loop.FallbackReason(); reason != nil {
		result.FallbackReason = reason.Error()
	}
	if err := loop.Close(); err != nil {
		result.Error = "closing the probe loop: " + err.Error()
	}
	return result
}

func writeInfoText(w io.Writer, info infoResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel:            %s %s (%s)\n", info.Kernel.Release, info.Kernel.Machine, info.Kernel.Version)
	switch sysctl := info.Sysctl; {
	case sysctl == nil:
	case sysctl.Present:
		fmt.Fprintf(&b, "io_uring_disabled: %s (%s)\n", sysctl.Value, sysctl.Meaning)
	default:
		fmt.Fprintf(&b, "io_uring_disabled: %s\n", sysctl.Meaning)
	}
	writeLoopText(&b, info.Loop)
	for i, limit := range platformLimits {
		label := "limits:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(&b, "%-18s %s\n", label, limit)
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

// writeLoopText says which backend New selected and why, or why it failed.
func writeLoopText(b *strings.Builder, loop loopInfo) {
	if loop.EnvBackend != "" {
		verdict := "overrides auto"
		if !loop.EnvApplies {
			verdict = "ignored: -backend " + loop.Requested + " is explicit"
		}
		fmt.Fprintf(b, "%-18s %s (%s)\n", ioloop.BackendEnv+":", loop.EnvBackend, verdict)
	}
	if !loop.OK {
		fmt.Fprintf(b, "loop backend:      none: ioloop.New with backend %s failed\n", loop.Requested)
		if loop.Reason != "" {
			fmt.Fprintf(b, "  reason:          %s\n", loop.Reason)
		}
		fmt.Fprintf(b, "  error:           %s\n", loop.Error)
		return
	}
	why := "requested"
	switch {
	case loop.EnvApplies:
		why = "set by " + ioloop.BackendEnv
	case loop.FallbackReason != "":
		why = "auto fell back from io_uring"
	case loop.Requested == ioloop.BackendAuto.String():
		why = "auto's choice on this machine"
	}
	fmt.Fprintf(b, "loop backend:      %s (%s)\n", loop.Backend, why)
	if loop.FallbackReason != "" {
		fmt.Fprintf(b, "  fallback reason: %s\n", loop.FallbackReason)
	}
	if loop.Error != "" {
		fmt.Fprintf(b, "  error:           %s\n", loop.Error)
	}
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
