//go:build !windows

package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// The child processes of `bench echo -server` and `bench arch`: the
// servers under load.

// serverStartTimeout bounds how long a server child may take to listen,
// and serverStopTimeout how long it may take to exit after SIGTERM.
const (
	serverStartTimeout = 10 * time.Second
	serverStopTimeout  = 10 * time.Second
)

// childServer is a server started from this very binary in a child
// process, so that its CPU time (and system calls) are its own and can be
// read from outside over a client's measured window. `bench echo -server`
// starts `ioloop echo` this way and `bench arch` starts `bench arch -serve`:
// both print a "listening on ADDR ..." line first and a summary line when
// SIGTERM stops them.
type childServer struct {
	cmd      *exec.Cmd
	name     string // how errors name the server, such as "echo server"
	stdout   proc.LockedBuffer
	stderr   proc.LockedBuffer
	listened <-chan struct{} // closed when the child has printed its first line
	exited   chan struct{}   // closed when cmd.Wait has returned
	waitErr  error           // cmd.Wait's result, once exited is closed
}

// newChildServer prepares this program with args; launch starts it.
func newChildServer(name string, args ...string) (*childServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to start the server: %w", err)
	}
	p := &childServer{cmd: exec.Command(exe, args...), name: name, exited: make(chan struct{})}
	p.listened = p.stdout.NotifyLine()
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	return p, nil
}

// launch starts the child, pinned to cpu (none if negative), and reaps it
// in the background, so that every later wait can be bounded by a select.
func (p *childServer) launch(cpu int) error {
	var cpus []int
	if cpu >= 0 {
		cpus = []int{cpu}
	}
	if err := proc.StartPinned(p.cmd, cpus); err != nil {
		return err
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	return nil
}

// listening waits until the child has printed its first line and returns
// it; a child that exits first or stays silent for serverStartTimeout
// fails (and is killed).
func (p *childServer) listening() (string, error) {
	select {
	case <-p.listened:
	case <-p.exited:
		return "", p.failure("exited before listening")
	case <-time.After(serverStartTimeout):
		p.kill()
		return "", p.failure(fmt.Sprintf("did not listen within %v", serverStartTimeout))
	}
	line, _, _ := strings.Cut(p.stdout.String(), "\n")
	return line, nil
}

// parseListening reads a server's first line, "listening on ADDR k=v ...":
// the address, and the backend once the key field has the wanted value
// (server=ioloop for `ioloop echo`, arch=pool for `bench arch -serve`).
func parseListening(line, key, want string) (addr netip.AddrPort, backend string, err error) {
	fields := strings.Fields(line)
	if len(fields) < 3 || fields[0] != "listening" || fields[1] != "on" {
		return addr, "", fmt.Errorf("printed %q, want \"listening on ADDR ...\"", line)
	}
	if addr, err = netip.ParseAddrPort(fields[2]); err != nil {
		return addr, "", fmt.Errorf("printed an address that does not parse: %w", err)
	}
	values := map[string]string{}
	for _, kv := range fields[3:] {
		if k, v, ok := strings.Cut(kv, "="); ok {
			values[k] = v
		}
	}
	if values[key] != want || values["backend"] == "" {
		return addr, "", fmt.Errorf("printed %q, want %s=%s and a backend", line, key, want)
	}
	return addr, values["backend"], nil
}

// terminate asks the child to shut down with SIGTERM, as an operator
// would, and waits up to serverStopTimeout for a clean exit; what the
// child printed is then in stdout and stderr.
func (p *childServer) terminate() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.kill()
		return fmt.Errorf("stopping the %s: %w", p.name, err)
	}
	select {
	case <-p.exited:
	case <-time.After(serverStopTimeout):
		p.kill()
		return p.failure(fmt.Sprintf("did not exit within %v of SIGTERM", serverStopTimeout))
	}
	if p.waitErr != nil {
		return p.failure("failed")
	}
	return nil
}

// failure describes a server that failed, with what it printed.
func (p *childServer) failure(what string) error {
	msg := fmt.Sprintf("the %s (%s) %s", p.name, strings.Join(p.cmd.Args[1:], " "), what)
	select {
	case <-p.exited:
		if p.waitErr != nil {
			msg += fmt.Sprintf(" (%v)", p.waitErr)
		}
	default:
	}
	if out := strings.TrimSpace(p.stdout.String() + p.stderr.String()); out != "" {
		msg += "; it printed:\n" + out
	}
	return errors.New(msg)
}

// kill ends a child that terminate did not: for the error paths.
func (p *childServer) kill() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}
