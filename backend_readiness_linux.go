package ioloop

// readinessBackendKind is the readiness backend of this OS.
const readinessBackendKind = BackendEpoll
