//go:build darwin || freebsd || netbsd || openbsd

package ioloop

// readinessBackendKind is the readiness backend of this OS.
const readinessBackendKind = BackendKqueue
