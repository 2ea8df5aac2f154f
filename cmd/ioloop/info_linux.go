//go:build !windows

package main

import (
	"errors"
	"os"
	"strings"

	"github.com/ioloop/ioloop/internal/uring"
)

// probeIOURing reports the kernel's io_uring policy and what a raw ring
// supports.
func probeIOURing() (*sysctlInfo, *ringInfo, string) {
	sysctl := readIOURingDisabled()
	ring, ringErr := probeRing()
	return &sysctl, ring, ringErr
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
