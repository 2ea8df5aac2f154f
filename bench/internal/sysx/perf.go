package sysx

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SyscallEvent is the tracepoint the suite counts: every system call
// entry, of every kind, the Go runtime's own included.
const SyscallEvent = "raw_syscalls:sys_enter"

// PerfCheck reports whether perf can count SyscallEvent here, and if not,
// why, in words fit for a results table ("perf not installed").
func PerfCheck() (ok bool, why string) {
	path, err := exec.LookPath("perf")
	if err != nil {
		return false, "perf not installed"
	}
	out, err := exec.Command(path, "stat", "-x", ",", "-e", SyscallEvent, "--", "true").CombinedOutput()
	if _, perr := perfCount(string(out)); perr != nil {
		msg := strings.TrimSpace(string(out))
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if err != nil {
			msg = err.Error() + ": " + msg
		}
		return false, "perf cannot count " + SyscallEvent + ": " + msg
	}
	return true, ""
}

// SyscallCounter runs `perf stat -e raw_syscalls:sys_enter -p PID` with
// its counter disabled until Enable, driven through perf's control pipe
// (--control fd:CTL,ACK), which acknowledges each command: the count then
// covers exactly the window between Enable and Disable, however long perf
// took to attach.
type SyscallCounter struct {
	cmd    *exec.Cmd
	ctl    *os.File
	ackR   *os.File
	ack    *bufio.Reader
	output syncBuffer
}

// CountSyscalls attaches perf to pid, counting nothing yet.
func CountSyscalls(pid int) (*SyscallCounter, error) {
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ackR, ackW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return nil, err
	}
	c := &SyscallCounter{ctl: ctlW, ackR: ackR, ack: bufio.NewReader(ackR)}
	// ExtraFiles become the child's descriptors 3 and 4.
	c.cmd = exec.Command("perf", "stat", "-x", ",", "-e", SyscallEvent, "--delay=-1",
		"--control", "fd:3,4", "-p", strconv.Itoa(pid))
	c.cmd.ExtraFiles = []*os.File{ctlR, ackW}
	c.cmd.Stderr = &c.output
	err = c.cmd.Start()
	ctlR.Close()
	ackW.Close()
	if err != nil {
		ctlW.Close()
		ackR.Close()
		return nil, err
	}
	return c, nil
}

func (c *SyscallCounter) send(command string) error {
	if _, err := fmt.Fprintln(c.ctl, command); err != nil {
		return fmt.Errorf("perf %s: %w", command, err)
	}
	_ = c.ackR.SetReadDeadline(time.Now().Add(10 * time.Second))
	reply, err := c.ack.ReadString('\n')
	// perf terminates each "ack\n" with a NUL, which then leads the next.
	if err != nil || strings.Trim(reply, "\x00\n") != "ack" {
		return fmt.Errorf("perf did not acknowledge %s (%q, %v): %s", command, reply, err, c.output.String())
	}
	return nil
}

// Enable starts counting.
func (c *SyscallCounter) Enable() error { return c.send("enable") }

// Disable stops counting.
func (c *SyscallCounter) Disable() error { return c.send("disable") }

// Finish ends perf and returns what it counted.
func (c *SyscallCounter) Finish() (int64, error) {
	defer c.ctl.Close()
	defer c.ackR.Close()
	_ = c.cmd.Process.Signal(os.Interrupt)
	waitErr := Reap(c.cmd, 10*time.Second) // perf exits by re-raising SIGINT: an error status
	n, err := perfCount(c.output.String())
	if err != nil && waitErr != nil {
		err = fmt.Errorf("%w (%v)", err, waitErr)
	}
	return n, err
}

// perfCount finds "COUNT,,raw_syscalls:sys_enter,..." in perf stat -x ,
// output.
func perfCount(output string) (int64, error) {
	for line := range strings.Lines(output) {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) >= 3 && f[2] == SyscallEvent {
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, errors.New("perf printed no count of " + SyscallEvent)
}

// syncBuffer collects a child's output from os/exec's copying goroutine.
type syncBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}
