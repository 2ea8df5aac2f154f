package ioloop

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// BackendEnv is the environment variable that overrides BackendAuto (see
// Options.Backend). On Windows it may name iocp or auto.
const BackendEnv = "IOLOOP_BACKEND"

// ParseBackend returns the Backend named s, as Backend.String spells it
// ("auto", "io_uring", "epoll", "kqueue", "iocp"); "iouring" and "uring"
// are accepted for io_uring.
func ParseBackend(s string) (Backend, error) {
	switch s {
	case "iouring", "uring":
		return BackendIOUring, nil
	}
	for b, name := range backendNames {
		if s == name {
			return Backend(b), nil
		}
	}
	return BackendAuto, fmt.Errorf("ioloop: unknown backend %q (want auto or iocp)", s)
}

// selectBackend sets up the backend opts asks for: on Windows BackendAuto
// is BackendIOCP, the only kernel backend there.
func (l *Loop) selectBackend(opts Options) error {
	kind := opts.Backend
	if kind == BackendAuto {
		if env := os.Getenv(BackendEnv); env != "" {
			forced, err := ParseBackend(env)
			if err != nil {
				return &SetupError{Backend: BackendAuto, Err: syscall.EINVAL,
					Reason: "environment variable " + BackendEnv + "=" + env +
						" names no backend (want auto or iocp)"}
			}
			kind = forced
		}
	}
	switch kind {
	case BackendAuto, BackendIOCP:
		b, err := newIOCPBackend(l, opts)
		if err != nil {
			return err
		}
		l.backend, l.backendKind = b, BackendIOCP
		return nil
	case BackendIOUring, BackendEpoll, BackendKqueue:
		return &SetupError{Backend: kind, Err: errors.ErrUnsupported,
			Reason: kind.String() + " does not exist on Windows"}
	case BackendSimulator:
		return &SetupError{Backend: kind, Err: syscall.EINVAL,
			Reason: "simulated loops are created by package sim (sim.NewWorld, World.AddNode)"}
	}
	return &SetupError{Backend: kind, Err: syscall.EINVAL, Reason: "unknown Options.Backend"}
}
