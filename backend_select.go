//go:build !windows

package ioloop

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// BackendEnv is the environment variable that overrides BackendAuto (see
// Options.Backend): io_uring, epoll, kqueue or auto.
const BackendEnv = "IOLOOP_BACKEND"

// ParseBackend returns the Backend named s, as Backend.String spells it
// ("auto", "io_uring", "epoll", "kqueue"); "iouring" and "uring" are
// accepted for io_uring.
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
	return BackendAuto, fmt.Errorf("ioloop: unknown backend %q (want auto, io_uring, epoll or kqueue)", s)
}

// selectBackend sets up the backend opts asks for. BackendAuto tries
// io_uring first and falls back to the platform's readiness backend when
// io_uring is refused for a reason a different backend cures.
func (l *Loop) selectBackend(opts Options) error {
	kind := opts.Backend
	if kind == BackendAuto {
		if env := os.Getenv(BackendEnv); env != "" {
			forced, err := ParseBackend(env)
			if err != nil {
				return &SetupError{Backend: BackendAuto, Err: syscall.EINVAL,
					Reason: "environment variable " + BackendEnv + "=" + env +
						" names no backend (want auto, io_uring, epoll or kqueue)"}
			}
			kind = forced
		}
	}
	switch kind {
	case BackendAuto:
		err := l.useURing(opts)
		if err == nil || !fallbackAllowed(err) {
			return err
		}
		if err := l.useReadiness(opts, readinessBackendKind); err != nil {
			return err
		}
		l.fallbackReason = err
		return nil
	case BackendIOUring:
		return l.useURing(opts)
	case BackendEpoll, BackendKqueue:
		return l.useReadiness(opts, kind)
	case BackendSimulator:
		return &SetupError{Backend: kind, Err: syscall.EINVAL,
			Reason: "simulated loops are created by package sim (sim.NewWorld, World.AddNode)"}
	}
	return &SetupError{Backend: kind, Err: syscall.EINVAL, Reason: "unknown Options.Backend"}
}

func (l *Loop) useReadiness(opts Options, kind Backend) error {
	if kind != readinessBackendKind {
		return &SetupError{Backend: kind, Err: errors.ErrUnsupported,
			Reason: kind.String() + " does not exist on this operating system"}
	}
	b, err := newReadinessBackend(l, opts)
	if err != nil {
		return err
	}
	l.backend, l.backendKind = b, kind
	return nil
}

// fallbackAllowed reports whether io_uring failed for a reason another
// backend does not share: the kernel lacks it or a feature we need
// (ENOSYS, EOPNOTSUPP, errors.ErrUnsupported), policy refuses it (EPERM:
// seccomp, kernel.io_uring_disabled), or its rings cannot be locked into
// memory (ENOMEM). Configuration mistakes (EINVAL) and exhausted file
// descriptors fail New instead, since epoll would hide them.
func fallbackAllowed(err error) bool {
	for _, cause := range []error{syscall.ENOSYS, syscall.EPERM, syscall.EOPNOTSUPP, syscall.ENOMEM, errors.ErrUnsupported} {
		if errors.Is(err, cause) {
			return true
		}
	}
	return false
}
