//go:build !windows

// Package perf counts the system calls of another process with
// `perf stat -e raw_syscalls:sys_enter -p PID`, for `ioloop bench echo
// -server` and the bench/ suite alike. perf starts with its counters
// disabled (--delay=-1) and enables and disables them on command
// (--control), acknowledging each command: so the count covers exactly
// the client's measured window, however long perf takes to attach.
package perf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// SyscallEvent is the tracepoint perf counts: every system call entry, of
// every kind, including the Go runtime's own (futex, nanosleep, ...).
const SyscallEvent = "raw_syscalls:sys_enter"

// timeout bounds how long perf may take to start, to answer a command,
// and to exit.
const timeout = 10 * time.Second

// Check reports whether perf can count SyscallEvent here, and if not,
// why, in words fit for a results table ("perf not installed").
func Check() (ok bool, why string) {
	path, err := exec.LookPath("perf")
	if err != nil {
		return false, "perf not installed"
	}
	out, err := exec.Command(path, "stat", "-x", ",", "-e", SyscallEvent, "--", "true").CombinedOutput()
	if _, perr := ParseCount(string(out)); perr != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if err != nil {
			msg = err.Error() + ": " + msg
		}
		return false, "perf cannot count " + SyscallEvent + ": " + msg
	}
	return true, ""
}

// SyscallCounter is perf attached to one process.
type SyscallCounter struct {
	cmd      *exec.Cmd
	ctl      *os.File // commands to perf
	ack      *bufio.Reader
	ackFile  *os.File
	output   proc.LockedBuffer // perf's stderr, where perf stat prints the count
	finished bool
}

// Start attaches perf to pid, counting nothing until Enable. It fails when
// perf is not installed or cannot start; the caller decides whether that
// matters.
func Start(pid int) (*SyscallCounter, error) {
	path, err := exec.LookPath("perf")
	if err != nil {
		return nil, err
	}
	// perf reads commands from fd 3 and acknowledges on fd 4: the first
	// two of cmd.ExtraFiles.
	ctlRead, ctlWrite, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ackRead, ackWrite, err := os.Pipe()
	if err != nil {
		proc.CloseFiles(ctlRead, ctlWrite)
		return nil, err
	}
	p := &SyscallCounter{ctl: ctlWrite, ack: bufio.NewReader(ackRead), ackFile: ackRead}
	p.cmd = exec.Command(path, "stat", "-e", SyscallEvent, "-x", ",", "--delay=-1",
		"--control", "fd:3,4", "-p", strconv.Itoa(pid))
	p.cmd.ExtraFiles = []*os.File{ctlRead, ackWrite}
	p.cmd.Stderr = &p.output
	err = p.cmd.Start()
	proc.CloseFiles(ctlRead, ackWrite) // perf has its own copies now
	if err != nil {
		proc.CloseFiles(ctlWrite, ackRead)
		return nil, fmt.Errorf("starting perf: %w", err)
	}
	return p, nil
}

// command sends "enable" or "disable" and waits until perf has applied it.
func (p *SyscallCounter) command(cmd string) error {
	if _, err := p.ctl.WriteString(cmd + "\n"); err != nil {
		return fmt.Errorf("perf %s: %w (perf said: %s)", cmd, err, p.output.String())
	}
	if err := p.ackFile.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	line, err := p.ack.ReadString('\n')
	if err != nil {
		return fmt.Errorf("perf did not acknowledge %q: %w (perf said: %s)", cmd, err, strings.TrimSpace(p.output.String()))
	}
	// perf writes "ack\n" with its C string terminator, which therefore
	// starts the next answer.
	if strings.TrimLeft(line, "\x00") != "ack\n" {
		return fmt.Errorf("perf answered %q to %q", line, cmd)
	}
	return nil
}

// Enable starts counting.
func (p *SyscallCounter) Enable() error { return p.command("enable") }

// Disable stops counting.
func (p *SyscallCounter) Disable() error { return p.command("disable") }

// Finished reports whether Finish has run.
func (p *SyscallCounter) Finished() bool { return p.finished }

// Finish stops perf, which prints its count on SIGINT, and returns the
// count. It is safe to call more than once; only the first returns it.
func (p *SyscallCounter) Finish() (int64, error) {
	if p.finished {
		return 0, errors.New("perf already finished")
	}
	p.finished = true
	defer proc.CloseFiles(p.ctl, p.ackFile)
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		return 0, fmt.Errorf("stopping perf: %w", err)
	}
	// perf ends by re-raising the SIGINT, so its exit status is an error
	// even when all went well: only a missing count is a failure, which
	// the status may then explain.
	waitErr := proc.WaitTimeout(p.cmd, timeout)
	count, err := ParseCount(p.output.String())
	if err != nil && waitErr != nil {
		err = fmt.Errorf("%w (perf: %v)", err, waitErr)
	}
	return count, err
}

// ParseCount finds the count in perf stat's CSV output (-x ,), a line
// "COUNT,UNIT,EVENT,RUNTIME,PERCENT,...", among perf's other messages.
func ParseCount(output string) (int64, error) {
	for line := range strings.Lines(output) {
		fields := strings.Split(strings.TrimSpace(line), ",")
		if len(fields) < 3 || fields[2] != SyscallEvent {
			continue
		}
		count, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			// "<not counted>": the process never ran while counting;
			// "<not supported>": the kernel lacks the tracepoint.
			return 0, fmt.Errorf("perf counted no %s: %s", SyscallEvent, fields[0])
		}
		return count, nil
	}
	return 0, fmt.Errorf("no %s count in perf's output: %q", SyscallEvent, strings.TrimSpace(output))
}
