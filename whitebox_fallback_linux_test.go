//go:build linux

package ioloop

// Tests that BackendAuto really falls back to epoll when the kernel refuses
// io_uring, and that nothing else does.
//
// Mechanism. Each test re-executes the test binary (os.Args[0]) as a child
// process running only itself (-test.run=^TestName$, plus /^Subtest$), with
// the environment variable IOLOOP_TEST_FALLBACK_CHILD marking the child and
// carrying its configuration. Before creating any Loop, the child installs a
// seccomp-BPF filter that makes io_uring_setup, io_uring_enter and
// io_uring_register fail with a chosen errno (EPERM, as Docker's and
// containerd's default profiles do, or ENOSYS, as a kernel without
// CONFIG_IO_URING does) and allows every other system call. The child then
// calls New, prints what it got as "fallbackchild: key="value"" lines on
// stdout (backend, FallbackReason, errors.Is/errors.As results), runs real
// operations (a Timeout, a Send and a Recv over a socketpair) on the loop it
// got, and exits; the parent parses the lines and checks them. A seccomp
// filter cannot be removed, so it lives and dies with the child: the parent
// and every other test stay unfiltered.
//
// Why SECCOMP_FILTER_FLAG_TSYNC: a seccomp filter normally applies only to
// the calling thread (and threads it creates later). A Go program is
// multi-threaded before main runs, and the goroutine that calls New may run
// on any of those threads, so the filter has to be put on all of them at
// once; TSYNC does that atomically (it also carries no_new_privs to them),
// or fails naming a thread it could not synchronize. The test then reads
// /proc/self/task/*/status to confirm that every thread is filtered, and
// calls io_uring_setup/enter/register directly to confirm that they fail
// with the chosen errno (unfiltered they fail with EFAULT/EINVAL/EBADF), so
// a filter that does not work cannot pass for an ioloop that does.
// prctl(PR_SET_NO_NEW_PRIVS) is per thread too, which is why the install
// runs with the goroutine locked to its thread.
//
// Why the filter checks the architecture: system call numbers are only
// meaningful for one ABI. A process can enter the kernel through another one
// (int 0x80 on amd64 gives the i386 table), where the same number is a
// different call; seccomp_data.arch says which table nr belongs to. The
// filter compares syscall numbers only for the native ABI
// (AUDIT_ARCH_X86_64 on amd64, AUDIT_ARCH_AARCH64 on arm64, ...) and allows
// everything else, since Go never uses a foreign ABI. On an architecture
// without a known AUDIT_ARCH constant the seccomp variant is unavailable.
//
// When seccomp cannot be installed (a sandbox refusing seccomp(2), a kernel
// without CONFIG_SECCOMP_FILTER, an unknown architecture), the EPERM tests
// fall back to sysctl kernel.io_uring_disabled=2, which makes io_uring_setup
// fail with EPERM for every process on the host. Because that is global, it
// happens only as root and with CI=true, and the old value is restored when
// the test ends; otherwise the tests skip, saying why. Setting
// IOLOOP_TEST_FALLBACK_NO_SECCOMP=1 pretends seccomp is unavailable, to
// exercise that path.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ioloop/ioloop/internal/uring"
	"golang.org/x/sys/unix"
)

const (
	// fallbackChildEnv marks the child process and carries its
	// configuration: space-separated key=value pairs (mechanism, deny,
	// backend).
	fallbackChildEnv = "IOLOOP_TEST_FALLBACK_CHILD"
	// fallbackNoSeccompEnv makes the parent treat seccomp as unavailable.
	fallbackNoSeccompEnv = "IOLOOP_TEST_FALLBACK_NO_SECCOMP"
	// fallbackLinePrefix starts every machine-readable line of the child.
	fallbackLinePrefix = "fallbackchild: "
	// fallbackChildTimeout bounds one child process.
	fallbackChildTimeout = 60 * time.Second
	// fallbackTimeoutOp is the duration of the Timeout the child runs.
	fallbackTimeoutOp = 5 * time.Millisecond
	// fallbackPayload is what the child sends over its socketpair.
	fallbackPayload = "ioloop fallback payload"
	// ioURingDisabledPath is sysctl kernel.io_uring_disabled (Linux 6.6+).
	ioURingDisabledPath = "/proc/sys/kernel/io_uring_disabled"
)

// Mechanisms that make io_uring fail in the child.
const (
	mechanismNone    = "none"    // nothing: io_uring works if the host has it
	mechanismSeccomp = "seccomp" // a seccomp filter in the child only
	mechanismSysctl  = "sysctl"  // kernel.io_uring_disabled=2, set by the parent
)

// fallbackErrnos are the causes the child reports errors.Is results for.
var fallbackErrnos = []syscall.Errno{syscall.EPERM, syscall.ENOSYS, syscall.EOPNOTSUPP, syscall.ENOMEM, syscall.EINVAL}

// Offsets in struct seccomp_data { int nr; __u32 arch; __u64 ip; __u64 args[6]; }.
const (
	seccompDataNrOffset   = 0
	seccompDataArchOffset = 4
)

// fallbackAuditArch returns the AUDIT_ARCH_* value the kernel reports in
// seccomp_data.arch for this binary's native system call ABI.
func fallbackAuditArch() (uint32, bool) {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64, true
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64, true
	case "386":
		return unix.AUDIT_ARCH_I386, true
	case "arm":
		return unix.AUDIT_ARCH_ARM, true
	case "riscv64":
		return unix.AUDIT_ARCH_RISCV64, true
	case "ppc64le":
		return unix.AUDIT_ARCH_PPC64LE, true
	case "ppc64":
		return unix.AUDIT_ARCH_PPC64, true
	case "s390x":
		return unix.AUDIT_ARCH_S390X, true
	case "loong64":
		return unix.AUDIT_ARCH_LOONGARCH64, true
	}
	return 0, false
}

// ioURingFilter builds the BPF program: for the native ABI, the io_uring
// system calls return deny; everything else is allowed.
func ioURingFilter(arch uint32, deny syscall.Errno) []unix.SockFilter {
	stmt := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	jeq := func(k uint32, jt, jf uint8) unix.SockFilter {
		return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: jt, Jf: jf, K: k}
	}
	denied := []uintptr{unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER}
	prog := []unix.SockFilter{
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, seccompDataArchOffset),
		jeq(arch, 1, 0), // native ABI: skip the next instruction
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW),
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, seccompDataNrOffset),
	}
	for i, nr := range denied {
		// On a match jump over the remaining comparisons and the ALLOW to
		// the final ERRNO instruction.
		prog = append(prog, jeq(uint32(nr), uint8(len(denied)-i), 0))
	}
	return append(prog,
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW),
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ERRNO|(uint32(deny)&unix.SECCOMP_RET_DATA)))
}

// installIOURingFilter puts the filter on every thread of the process. It
// returns unavailable when this environment cannot install seccomp filters
// at all, and err when the install failed for a reason that points at the
// test itself (such as a program the kernel rejects).
func installIOURingFilter(deny syscall.Errno) (unavailable string, err error) {
	arch, ok := fallbackAuditArch()
	if !ok {
		return "no AUDIT_ARCH constant known for GOARCH=" + runtime.GOARCH, nil
	}
	// Probe first: a kernel or sandbox without seccomp filters fails here,
	// so that EINVAL from SECCOMP_SET_MODE_FILTER below means a bad program.
	action := uint32(unix.SECCOMP_RET_ERRNO)
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action))); errno != 0 {
		return "seccomp(SECCOMP_GET_ACTION_AVAIL, SECCOMP_RET_ERRNO): " + errnoText(errno), nil
	}
	prog := ioURingFilter(arch, deny)
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}

	// no_new_privs is per thread and seccomp checks it on the calling
	// thread, so both calls must run on the same one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return "prctl(PR_SET_NO_NEW_PRIVS): " + err.Error(), nil
	}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	switch {
	case errno == syscall.EPERM || errno == syscall.EACCES || errno == syscall.ENOSYS:
		return "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): " + errnoText(errno), nil
	case errno != 0:
		return "", fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC) rejected the filter: %s", errnoText(errno))
	case r != 0:
		// TSYNC could not synchronize thread r (it has a diverging filter).
		return "", fmt.Errorf("seccomp TSYNC failed: thread %d has an incompatible filter", r)
	}
	return "", nil
}

// filteredThreads counts the process's threads and those in seccomp filter
// mode (Seccomp: 2 in /proc/self/task/TID/status).
func filteredThreads() (total, filtered int, err error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, 0, err
	}
	for _, task := range tasks {
		status, err := os.ReadFile(filepath.Join("/proc/self/task", task.Name(), "status"))
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			continue // the thread exited meanwhile
		}
		if err != nil {
			return 0, 0, err
		}
		total++
		for line := range strings.SplitSeq(string(status), "\n") {
			if value, ok := strings.CutPrefix(line, "Seccomp:"); ok && strings.TrimSpace(value) == "2" {
				filtered++
			}
		}
	}
	return total, filtered, nil
}

func errnoText(errno syscall.Errno) string {
	if name := unix.ErrnoName(errno); name != "" {
		return name + " (" + errno.Error() + ")"
	}
	return errno.Error()
}

// ---------------------------------------------------------------------------
// Child side.

// fallbackChildConfig is what the parent asks the child to do.
type fallbackChildConfig struct {
	mechanism string
	deny      syscall.Errno
	backend   Backend // Options.Backend
}

func (c fallbackChildConfig) encode() string {
	return fmt.Sprintf("mechanism=%s deny=%d backend=%s", c.mechanism, int(c.deny), c.backend)
}

func parseFallbackChildConfig(spec string) (fallbackChildConfig, error) {
	var cfg fallbackChildConfig
	for field := range strings.FieldsSeq(spec) {
		key, value, _ := strings.Cut(field, "=")
		switch key {
		case "mechanism":
			cfg.mechanism = value
		case "deny":
			n, err := strconv.Atoi(value)
			if err != nil {
				return cfg, fmt.Errorf("deny=%q: %v", value, err)
			}
			cfg.deny = syscall.Errno(n)
		case "backend":
			b, err := ParseBackend(value)
			if err != nil {
				return cfg, err
			}
			cfg.backend = b
		default:
			return cfg, fmt.Errorf("unknown key %q", key)
		}
	}
	return cfg, nil
}

// fallbackChildMain runs the child's part of a test when this process is a
// child, and then reports true: the test function must return at once.
func fallbackChildMain(t *testing.T) bool {
	spec, ok := os.LookupEnv(fallbackChildEnv)
	if !ok {
		return false
	}
	cfg, err := parseFallbackChildConfig(spec)
	if err != nil {
		t.Fatalf("%s=%q: %v", fallbackChildEnv, spec, err)
	}
	out := func(key string, value any) { fmt.Printf("%s%s=%q\n", fallbackLinePrefix, key, fmt.Sprint(value)) }
	out("env_"+BackendEnv, os.Getenv(BackendEnv))

	switch cfg.mechanism {
	case mechanismSeccomp:
		unavailable, err := installIOURingFilter(cfg.deny)
		if err != nil {
			t.Fatalf("installing the seccomp filter: %v", err)
		}
		if unavailable != "" {
			out("filter_unavailable", unavailable)
			return true
		}
		out("filter", mechanismSeccomp)
		total, filtered, err := filteredThreads()
		if err != nil {
			t.Fatalf("reading /proc/self/task: %v", err)
		}
		out("threads", total)
		out("threads_filtered", filtered)
		reportRawIOURing(out, true)
	case mechanismSysctl:
		out("filter", mechanismSysctl)
		reportRawIOURing(out, false)
	case mechanismNone:
		out("filter", mechanismNone)
	default:
		t.Fatalf("unknown mechanism %q", cfg.mechanism)
	}

	opts := Options{Backend: cfg.backend}
	l, err := New(opts)
	reportError(out, "new_err", err)
	if err != nil {
		return true
	}
	out("backend", l.Backend())
	reportError(out, "fallback", l.FallbackReason())
	runFallbackChildOps(t, l, out)
	return true
}

// reportRawIOURing calls the io_uring system calls directly, with arguments
// that fail even without a filter (but not with EPERM or ENOSYS), and
// prints their errnos.
func reportRawIOURing(out func(string, any), all bool) {
	errnoOf := func(_, _ uintptr, errno syscall.Errno) int { return int(errno) }
	out("raw_io_uring_setup_errno", errnoOf(unix.Syscall(unix.SYS_IO_URING_SETUP, 0, 0, 0)))
	if all {
		fd := ^uintptr(0) // -1: EBADF when not filtered
		out("raw_io_uring_enter_errno", errnoOf(unix.Syscall6(unix.SYS_IO_URING_ENTER, fd, 0, 0, 0, 0, 0)))
		out("raw_io_uring_register_errno", errnoOf(unix.Syscall6(unix.SYS_IO_URING_REGISTER, fd, 0, 0, 0, 0, 0)))
	}
}

// reportError prints err's text, whether it is a *SetupError (and which
// backend that names), and errors.Is against each of fallbackErrnos.
func reportError(out func(string, any), key string, err error) {
	if err == nil {
		out(key, "nil")
		return
	}
	out(key, err.Error())
	var setupErr *SetupError
	isSetup := errors.As(err, &setupErr)
	out(key+"_is_setup_error", isSetup)
	if isSetup {
		out(key+"_setup_backend", setupErr.Backend)
		out(key+"_setup_reason", setupErr.Reason)
	}
	for _, errno := range fallbackErrnos {
		out(key+"_is_"+unix.ErrnoName(errno), errors.Is(err, errno))
	}
}

// fallbackChildOps records the operations the child runs on its loop.
type fallbackChildOps struct {
	start                        time.Time
	timeoutDone, sent, received  bool
	timeoutElapsed               time.Duration
	timeoutErr, sendErr, recvErr error
	sendN, recvN                 int
}

func (o *fallbackChildOps) onTimeout(_ *Completion, err error) {
	o.timeoutDone, o.timeoutErr, o.timeoutElapsed = true, err, time.Since(o.start)
}

func (o *fallbackChildOps) onSend(_ *Completion, n int, err error) {
	o.sent, o.sendN, o.sendErr = true, n, err
}

func (o *fallbackChildOps) onRecv(_ *Completion, n int, err error) {
	o.received, o.recvN, o.recvErr = true, n, err
}

// runFallbackChildOps shows that the loop New returned works: a Timeout
// fires, and a Send reaches a Recv across a socketpair. Then it closes l.
func runFallbackChildOps(t *testing.T, l *Loop, out func(string, any)) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])

	ops := &fallbackChildOps{start: time.Now()}
	var timeoutC, sendC, recvC Completion
	buf := make([]byte, 2*len(fallbackPayload))
	Timeout(l, &timeoutC, fallbackTimeoutOp, ops, (*fallbackChildOps).onTimeout)
	Recv(l, &recvC, fds[1], buf, ops, (*fallbackChildOps).onRecv)
	Send(l, &sendC, fds[0], []byte(fallbackPayload), ops, (*fallbackChildOps).onSend)

	deadline := time.Now().Add(waitLimit)
	for !(ops.timeoutDone && ops.sent && ops.received) && time.Now().Before(deadline) {
		if err := l.RunFor(10 * time.Millisecond); err != nil {
			out("run_err", err)
			break
		}
	}
	out("ops_done", ops.timeoutDone && ops.sent && ops.received)
	if ops.timeoutDone {
		out("timeout_err", errOrNil(ops.timeoutErr))
		out("timeout_elapsed_ns", int64(ops.timeoutElapsed))
	}
	if ops.sent {
		out("send_n", ops.sendN)
		out("send_err", errOrNil(ops.sendErr))
	}
	if ops.received {
		out("recv_data", string(buf[:max(ops.recvN, 0)]))
		out("recv_err", errOrNil(ops.recvErr))
	}
	out("close_err", errOrNil(l.Close()))
}

func errOrNil(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// ---------------------------------------------------------------------------
// Parent side.

// fallbackScenario is one child run.
type fallbackScenario struct {
	mechanism string        // how io_uring is refused; runFallbackScenario may switch seccomp to sysctl
	deny      syscall.Errno // the errno io_uring gets
	backend   Backend       // Options.Backend in the child
	env       string        // IOLOOP_BACKEND in the child; "" leaves it unset
}

func (sc fallbackScenario) String() string {
	s := fmt.Sprintf("Options{Backend: %s}", sc.backend)
	if sc.env != "" {
		s = BackendEnv + "=" + sc.env + " " + s
	}
	switch sc.mechanism {
	case mechanismSeccomp:
		return s + " under a seccomp filter (io_uring → " + unix.ErrnoName(sc.deny) + ")"
	case mechanismSysctl:
		return s + " under kernel.io_uring_disabled=2"
	}
	return s + " without a filter"
}

// fallbackChildResult is what one child printed.
type fallbackChildResult struct {
	scenario       fallbackScenario
	values         map[string]string
	stdout, stderr string
}

// runFallbackScenario runs t's test function in a child process configured
// by sc and returns what it printed. It skips t when io_uring cannot be
// refused in this environment.
func runFallbackScenario(t *testing.T, sc fallbackScenario) *fallbackChildResult {
	t.Helper()
	if sc.mechanism == mechanismSeccomp {
		if _, ok := fallbackAuditArch(); !ok {
			sc = fallbackSysctlInstead(t, sc, "no AUDIT_ARCH constant known for GOARCH="+runtime.GOARCH)
		} else if os.Getenv(fallbackNoSeccompEnv) != "" {
			sc = fallbackSysctlInstead(t, sc, fallbackNoSeccompEnv+" is set")
		}
	}
	r := runFallbackChild(t, sc)
	if why, ok := r.values["filter_unavailable"]; ok {
		sc = fallbackSysctlInstead(t, sc, why)
		r = runFallbackChild(t, sc)
	}
	if got := r.values["filter"]; got != sc.mechanism {
		t.Fatalf("child printed filter=%q, want %q\n%s", got, sc.mechanism, r.transcript())
	}
	return r
}

// fallbackSysctlInstead switches sc from seccomp to
// kernel.io_uring_disabled=2, or skips t when that is not allowed here.
func fallbackSysctlInstead(t *testing.T, sc fallbackScenario, why string) fallbackScenario {
	t.Helper()
	if sc.deny != syscall.EPERM {
		t.Skipf("cannot install a seccomp filter (%s), and kernel.io_uring_disabled can only refuse io_uring with EPERM, not %s",
			why, unix.ErrnoName(sc.deny))
	}
	if os.Geteuid() != 0 || os.Getenv("CI") != "true" {
		t.Skipf("cannot install a seccomp filter (%s); the fallback, sysctl kernel.io_uring_disabled=2, affects the whole host and runs only as root with CI=true",
			why)
	}
	old, err := os.ReadFile(ioURingDisabledPath)
	if err != nil {
		t.Skipf("cannot install a seccomp filter (%s), and kernel.io_uring_disabled is not available: %v", why, err)
	}
	if err := os.WriteFile(ioURingDisabledPath, []byte("2\n"), 0); err != nil {
		t.Skipf("cannot install a seccomp filter (%s), nor set kernel.io_uring_disabled=2: %v", why, err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(ioURingDisabledPath, old, 0); err != nil {
			t.Errorf("restoring kernel.io_uring_disabled=%s: %v", bytes.TrimSpace(old), err)
		}
	})
	t.Logf("cannot install a seccomp filter (%s); using kernel.io_uring_disabled=2 (was %s) for this test",
		why, bytes.TrimSpace(old))
	sc.mechanism = mechanismSysctl
	return sc
}

// runFallbackChild re-executes the test binary to run t alone, as a child
// configured by sc, and parses the lines it printed. A child that fails or
// times out fails t.
func runFallbackChild(t *testing.T, sc fallbackScenario) *fallbackChildResult {
	t.Helper()
	timeout := fallbackChildTimeout
	if deadline, ok := t.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline)-5*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	var pattern []string
	for _, name := range strings.Split(t.Name(), "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(name)+"$")
	}
	cmd := exec.CommandContext(ctx, os.Args[0],
		"-test.run="+strings.Join(pattern, "/"), "-test.count=1", "-test.timeout="+(timeout-2*time.Second).String())
	for _, kv := range os.Environ() {
		key, _, _ := strings.Cut(kv, "=")
		if key != BackendEnv && key != fallbackChildEnv && key != "GORACE" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// Under -race the child would sleep 1s at exit (atexit_sleep_ms).
	cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cfg := fallbackChildConfig{mechanism: sc.mechanism, deny: sc.deny, backend: sc.backend}
	cmd.Env = append(cmd.Env, fallbackChildEnv+"="+cfg.encode())
	if sc.env != "" {
		cmd.Env = append(cmd.Env, BackendEnv+"="+sc.env)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()

	r := &fallbackChildResult{scenario: sc, values: map[string]string{}, stdout: stdout.String(), stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("child (%s) did not finish within %v\n%s", sc, timeout, r.transcript())
	}
	if err != nil {
		t.Fatalf("child (%s) failed: %v\n%s", sc, err, r.transcript())
	}
	scanner := bufio.NewScanner(&stdout)
	for scanner.Scan() {
		line, ok := strings.CutPrefix(scanner.Text(), fallbackLinePrefix)
		if !ok {
			continue
		}
		key, quoted, _ := strings.Cut(line, "=")
		value, err := strconv.Unquote(quoted)
		if err != nil {
			t.Fatalf("child (%s) printed a malformed line %q: %v\n%s", sc, scanner.Text(), err, r.transcript())
		}
		r.values[key] = value
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("child process (%s):\n%s", sc, r.transcript())
		}
	})
	return r
}

func (r *fallbackChildResult) transcript() string {
	return "--- child stdout ---\n" + r.stdout + "--- child stderr ---\n" + r.stderr + "--- end of child output ---"
}

// want checks that the child printed key=want.
func (r *fallbackChildResult) want(t *testing.T, key, want string) bool {
	t.Helper()
	got, ok := r.values[key]
	switch {
	case !ok:
		t.Errorf("%s: the child printed no %s (want %q)", r.scenario, key, want)
	case got != want:
		t.Errorf("%s: %s = %q, want %q", r.scenario, key, got, want)
	default:
		return true
	}
	return false
}

// wantFilterEffective checks that io_uring was refused for real before New
// ran: every thread was in seccomp filter mode, and the raw system calls
// failed with the chosen errno.
func (r *fallbackChildResult) wantFilterEffective(t *testing.T) {
	t.Helper()
	deny := strconv.Itoa(int(r.scenario.deny))
	calls := []string{"raw_io_uring_setup_errno"}
	if r.scenario.mechanism == mechanismSeccomp {
		if r.values["threads"] == "" || r.values["threads_filtered"] != r.values["threads"] {
			t.Errorf("%s: %s of %s threads are in seccomp filter mode, want all (TSYNC did not reach them)",
				r.scenario, r.values["threads_filtered"], r.values["threads"])
		}
		calls = append(calls, "raw_io_uring_enter_errno", "raw_io_uring_register_errno")
	}
	for _, key := range calls {
		if got := r.values[key]; got != deny {
			n, _ := strconv.Atoi(got)
			t.Errorf("%s: the filter is not effective: %s = %s, want %s",
				r.scenario, key, errnoText(syscall.Errno(n)), errnoText(r.scenario.deny))
		}
	}
}

// wantNewOK checks that New succeeded with backend and a FallbackReason
// that is nil or not.
func (r *fallbackChildResult) wantNewOK(t *testing.T, backend Backend, fallback bool) {
	t.Helper()
	if got := r.values["new_err"]; got != "nil" {
		t.Fatalf("%s: New failed: %s\nwant a Loop on %s", r.scenario, got, backend)
	}
	r.want(t, "backend", backend.String())
	if got := r.values["fallback"]; fallback && got == "nil" {
		t.Errorf("%s: FallbackReason() = nil, want why io_uring was not used", r.scenario)
	} else if !fallback && got != "nil" {
		t.Errorf("%s: FallbackReason() = %q, want nil", r.scenario, got)
	}
}

// wantCause checks the *SetupError the child printed under key (new_err or
// fallback): it names io_uring, errors.Is matches the errno io_uring was
// refused with and none of the others.
func (r *fallbackChildResult) wantCause(t *testing.T, key string) {
	t.Helper()
	if !r.want(t, key+"_is_setup_error", "true") {
		return
	}
	r.want(t, key+"_setup_backend", BackendIOUring.String())
	for _, errno := range fallbackErrnos {
		r.want(t, key+"_is_"+unix.ErrnoName(errno), strconv.FormatBool(errno == r.scenario.deny))
	}
	// The text must point the operator at the mechanism that refused
	// io_uring. EPERM's explanation names the sysctl when it is set, so
	// seccomp is only expected while kernel.io_uring_disabled is 0.
	text := strings.ToLower(r.values[key])
	switch {
	case r.scenario.mechanism == mechanismSysctl:
		if !strings.Contains(text, "io_uring_disabled") {
			t.Errorf("%s: %s = %q, want it to mention kernel.io_uring_disabled", r.scenario, key, r.values[key])
		}
	case r.scenario.deny == syscall.EPERM && !ioURingSysctlIsZero():
		if !strings.Contains(text, "seccomp") && !strings.Contains(text, "io_uring_disabled") {
			t.Errorf("%s: %s = %q, want it to mention seccomp or kernel.io_uring_disabled", r.scenario, key, r.values[key])
		}
	default:
		if !strings.Contains(text, "seccomp") {
			t.Errorf("%s: %s = %q, want it to mention seccomp", r.scenario, key, r.values[key])
		}
	}
}

// ioURingSysctlIsZero reports whether kernel.io_uring_disabled is 0 or
// absent (before Linux 6.6).
func ioURingSysctlIsZero() bool {
	b, err := os.ReadFile(ioURingDisabledPath)
	return err != nil || strings.TrimSpace(string(b)) == "0"
}

// wantOpsWorked checks the operations the child ran on its loop.
func (r *fallbackChildResult) wantOpsWorked(t *testing.T) {
	t.Helper()
	if got, ok := r.values["run_err"]; ok {
		t.Errorf("%s: RunFor failed: %s", r.scenario, got)
	}
	if !r.want(t, "ops_done", "true") {
		t.Errorf("%s: operations still pending after %v: Timeout done=%t, Send done=%t, Recv done=%t",
			r.scenario, waitLimit, r.values["timeout_err"] != "", r.values["send_err"] != "", r.values["recv_err"] != "")
	}
	if r.want(t, "timeout_err", "nil") {
		elapsed, _ := strconv.ParseInt(r.values["timeout_elapsed_ns"], 10, 64)
		if time.Duration(elapsed) < fallbackTimeoutOp {
			t.Errorf("%s: Timeout(%v) called back after %v, too early", r.scenario, fallbackTimeoutOp, time.Duration(elapsed))
		}
	}
	r.want(t, "send_err", "nil")
	r.want(t, "send_n", strconv.Itoa(len(fallbackPayload)))
	r.want(t, "recv_err", "nil")
	r.want(t, "recv_data", fallbackPayload)
	r.want(t, "close_err", "nil")
}

// wantIOURingInProcess checks that this (unfiltered) process gets io_uring
// from BackendAuto with no FallbackReason, skipping when the host has no
// usable io_uring.
func wantIOURingInProcess(t *testing.T) {
	t.Helper()
	t.Setenv(BackendEnv, "") // empty means unset to selectBackend
	probe, err := New(Options{Backend: BackendIOUring})
	if err != nil {
		t.Skipf("io_uring is not usable on this host, so Auto falls back here too: %v", err)
	}
	if err := probe.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	l, err := New(Options{})
	if err != nil {
		t.Fatalf("New(Options{}) without a filter: %v", err)
	}
	defer l.Close()
	if got := l.Backend(); got != BackendIOUring {
		t.Errorf("New(Options{}) without a filter: Backend() = %s, want io_uring (FallbackReason: %v)", got, l.FallbackReason())
	}
	if reason := l.FallbackReason(); reason != nil {
		t.Errorf("New(Options{}) without a filter: FallbackReason() = %v, want nil", reason)
	}
}

// ---------------------------------------------------------------------------
// Tests.

// TestFallbackSeccompRefusal: with io_uring refused by the kernel, Auto
// runs on epoll, says why in FallbackReason, and the loop works.
func TestFallbackSeccompRefusal(t *testing.T) {
	for _, deny := range []syscall.Errno{syscall.EPERM, syscall.ENOSYS} {
		t.Run(unix.ErrnoName(deny), func(t *testing.T) {
			if fallbackChildMain(t) {
				return
			}
			r := runFallbackScenario(t, fallbackScenario{mechanism: mechanismSeccomp, deny: deny, backend: BackendAuto})
			r.wantFilterEffective(t)
			r.wantNewOK(t, BackendEpoll, true)
			r.wantCause(t, "fallback")
			r.wantOpsWorked(t)
		})
	}
	// The filter stayed in the children: this process still gets io_uring.
	// (A child never runs this subtest: its -test.run names one errno.)
	t.Run("ParentUnfiltered", wantIOURingInProcess)
}

// TestFallbackNotForExplicitIOUring: asking for io_uring, in Options or
// through IOLOOP_BACKEND, fails New when io_uring is refused instead of
// falling back.
func TestFallbackNotForExplicitIOUring(t *testing.T) {
	for _, sc := range []struct {
		name    string
		backend Backend
		env     string
	}{
		{"Options", BackendIOUring, ""},
		{"Env", BackendAuto, "io_uring"},
	} {
		t.Run(sc.name, func(t *testing.T) {
			if fallbackChildMain(t) {
				return
			}
			r := runFallbackScenario(t, fallbackScenario{mechanism: mechanismSeccomp, deny: syscall.EPERM, backend: sc.backend, env: sc.env})
			r.wantFilterEffective(t)
			if got := r.values["new_err"]; got == "nil" || got == "" {
				t.Fatalf("%s: New succeeded on %q (FallbackReason %q), want a *SetupError: io_uring was asked for explicitly",
					r.scenario, r.values["backend"], r.values["fallback"])
			}
			r.wantCause(t, "new_err")
		})
	}
}

// TestFallbackWithoutFilterGetsIOUring: without a filter, Auto picks
// io_uring and FallbackReason is nil.
func TestFallbackWithoutFilterGetsIOUring(t *testing.T) {
	wantIOURingInProcess(t)
}

// TestFallbackEnvEpoll: IOLOOP_BACKEND=epoll forces epoll, which is a
// choice, not a fallback: FallbackReason stays nil.
func TestFallbackEnvEpoll(t *testing.T) {
	if fallbackChildMain(t) {
		return
	}
	r := runFallbackScenario(t, fallbackScenario{mechanism: mechanismNone, backend: BackendAuto, env: "epoll"})
	r.want(t, "env_"+BackendEnv, "epoll")
	r.wantNewOK(t, BackendEpoll, false)
	r.wantOpsWorked(t)
}

// TestFallbackEnvInvalid: an IOLOOP_BACKEND value that names no backend
// fails New with an error that names the variable and the value.
func TestFallbackEnvInvalid(t *testing.T) {
	if fallbackChildMain(t) {
		return
	}
	const bogus = "io-uring-please"
	r := runFallbackScenario(t, fallbackScenario{mechanism: mechanismNone, backend: BackendAuto, env: bogus})
	got := r.values["new_err"]
	if got == "nil" || got == "" {
		t.Fatalf("%s: New succeeded on %q, want an error naming %s", r.scenario, r.values["backend"], BackendEnv)
	}
	if !strings.Contains(got, BackendEnv) || !strings.Contains(got, bogus) {
		t.Errorf("%s: New: %q, want an error naming %s and %q", r.scenario, got, BackendEnv, bogus)
	}
	r.want(t, "new_err_is_setup_error", "true")
}

// The io_uring backend's other fallback: file operations whose opcode the
// kernel lacks (IORING_OP_FTRUNCATE needs 6.9, MKDIRAT, SYMLINKAT and
// LINKAT 5.15, ...) run on its worker pool. The kernel here has them all,
// so uringPretendMissing makes setup count them as missing; the same
// conformance bodies (fileopsCases) then run on the workers, and
// workerStarting holds an operation "running" to cancel and close around
// it deterministically.

// poolWorkers counts the file workers the io_uring backend has started.
func (b *uringBackend) poolWorkers() int {
	b.files.mu.Lock()
	defer b.files.mu.Unlock()
	return b.files.workers
}

// newFileFallbackLoop returns an io_uring loop on which the optional
// opcodes missing reports true for count as missing.
func newFileFallbackLoop(t *testing.T, opts Options, missing func(opcode uint8) bool) *Loop {
	t.Helper()
	uringPretendMissing = missing
	defer func() { uringPretendMissing = nil }()
	opts.Backend = BackendIOUring
	l := newTestLoop(t, opts)
	b := uringOf(l)
	for _, o := range uringOptionalOps {
		if b.onWorkers[o.op] != missing(o.opcode) {
			t.Fatalf("%s (IORING_OP_%s): on the workers = %v, want %v", o.op, uring.OpName(o.opcode), b.onWorkers[o.op], missing(o.opcode))
		}
	}
	return l
}

func allMissing(uint8) bool { return true }

// TestFallbackFileopsProbe: this kernel has every opcode, so a plain
// io_uring loop runs none of the operations on workers; pretending one is
// missing moves that one only.
func TestFallbackFileopsProbe(t *testing.T) {
	l := newTestLoop(t, Options{Backend: BackendIOUring})
	for _, o := range uringOptionalOps {
		if uringOf(l).onWorkers[o.op] {
			t.Errorf("%s runs on the workers, but the kernel (probe) has IORING_OP_%s", o.op, uring.OpName(o.opcode))
		}
	}
	l2 := newFileFallbackLoop(t, Options{}, func(op uint8) bool { return op == uring.OpFtruncate })
	_, fd := tempFile(t, l2, []byte("0123456789"))
	err := fsOp(t, l2, func(c *Completion, r *opResult) { Ftruncate(l2, c, fd, 4, r, (*opResult).onErr) })
	wantErrno(t, "Ftruncate on a worker", err, nil)
	if uringOf(l2).poolWorkers() != 1 {
		t.Fatalf("Ftruncate with IORING_OP_FTRUNCATE missing started %d workers, want 1", uringOf(l2).poolWorkers())
	}
	err = fsOp(t, l2, func(c *Completion, r *opResult) { Fallocate(l2, c, fd, 0, 0, 8192, r, (*opResult).onErr) })
	wantErrno(t, "Fallocate in the kernel", err, nil)
	if sqe := uringOf(l2).ring.LastSQE(); sqe.Opcode != uring.OpFallocate {
		t.Fatalf("the last SQE is opcode %s, want FALLOCATE", uring.OpName(sqe.Opcode))
	}
}

// TestFallbackFileopsOnWorkers runs every file-operation conformance body
// with all the optional opcodes missing: results and errors match the
// kernel's.
func TestFallbackFileopsOnWorkers(t *testing.T) {
	for _, fc := range fileopsCases {
		t.Run(fc.name, func(t *testing.T) {
			l := newFileFallbackLoop(t, Options{}, allMissing)
			fc.fn(t, l)
			if uringOf(l).poolWorkers() == 0 {
				t.Fatalf("no operation ran on a worker")
			}
		})
	}
}

// holdWorkers makes each worker announce the operation it starts on
// started and wait for gate before running it, until the test ends.
func holdWorkers(t *testing.T) (started chan *Completion, gate chan struct{}) {
	started, gate = make(chan *Completion, 16), make(chan struct{})
	workerStarting = func(c *Completion) {
		started <- c
		<-gate
	}
	t.Cleanup(func() { workerStarting = nil }) // registered before the loop's: runs after its Close
	return started, gate
}

// TestFallbackFileopsCancel: on the workers, Cancel takes back an
// operation no worker has started (nil; the target gets ErrCanceled) and
// answers EALREADY for one running, which completes with its own result.
func TestFallbackFileopsCancel(t *testing.T) {
	started, gate := holdWorkers(t)
	l := newFileFallbackLoop(t, Options{FileWorkers: 1}, allMissing)
	dir := tempDir(t, l)
	var running, queued, cancelQueued, cancelRunning Completion
	var rRunning, rQueued, rCancelQueued, rCancelRunning opResult
	Mkdirat(l, &running, unix.AT_FDCWD, filepath.Join(dir, "running"), 0o755, &rRunning, (*opResult).onErr)
	Mkdirat(l, &queued, unix.AT_FDCWD, filepath.Join(dir, "queued"), 0o755, &rQueued, (*opResult).onErr)
	if c := <-started; c != &running {
		t.Fatalf("the worker started %p, want the first Mkdirat", c)
	}
	Cancel(l, &cancelQueued, &queued, &rCancelQueued, (*opResult).onErr)
	Cancel(l, &cancelRunning, &running, &rCancelRunning, (*opResult).onErr)
	await(t, l, &rCancelQueued, &rQueued, &rCancelRunning)
	wantOK(t, "Cancel of the queued Mkdirat", &rCancelQueued)
	wantErr(t, "the canceled Mkdirat", &rQueued, ErrCanceled)
	wantErr(t, "Cancel of the running Mkdirat", &rCancelRunning, syscall.EALREADY)
	if rRunning.calls != 0 {
		t.Fatalf("the running Mkdirat completed while its worker was held")
	}
	close(gate)
	await(t, l, &rRunning)
	wantOK(t, "the running Mkdirat", &rRunning)
	if !pathExists(t, l, filepath.Join(dir, "running")) || pathExists(t, l, filepath.Join(dir, "queued")) {
		t.Fatalf("after the cancel: the running Mkdirat's directory must exist and the canceled one's must not")
	}
}

// releaseOnCallback is the ctx of the queued operation in
// TestFallbackFileopsClose: its callback, which Close runs with
// ErrCanceled, lets the held worker go on.
type releaseOnCallback struct {
	opResult
	gate chan struct{}
}

func (r *releaseOnCallback) onErr(c *Completion, err error) {
	r.opResult.onErr(c, err)
	close(r.gate)
}

// TestFallbackFileopsClose: Close with an operation running on a worker
// and one queued behind it: the queued one gets ErrCanceled, Close waits
// for the running one, which gets its own result, and each callback runs
// once.
func TestFallbackFileopsClose(t *testing.T) {
	started, gate := holdWorkers(t)
	l := newFileFallbackLoop(t, Options{FileWorkers: 1}, allMissing)
	dir := tempDir(t, l)
	path, fd := tempFile(t, l, []byte("0123456789"))
	var running, queued Completion
	var rRunning opResult
	rQueued := &releaseOnCallback{gate: gate}
	Ftruncate(l, &running, fd, 3, &rRunning, (*opResult).onErr)
	Mkdirat(l, &queued, unix.AT_FDCWD, filepath.Join(dir, "never"), 0o755, rQueued, (*releaseOnCallback).onErr)
	<-started
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantOK(t, "the Ftruncate running during Close", &rRunning)
	wantErr(t, "the Mkdirat queued during Close", &rQueued.opResult, ErrCanceled)
	if l.Pending() != 0 {
		t.Fatalf("Pending() = %d after Close", l.Pending())
	}
	if _, err := os.Stat(filepath.Join(dir, "never")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the canceled Mkdirat ran: %v", err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != 3 {
		t.Fatalf("the Ftruncate did not run to its end before Close returned: %v %v", st, err)
	}
}
