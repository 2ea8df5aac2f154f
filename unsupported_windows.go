//go:build windows

package ioloop

// ioloop has no Windows backend yet: the IOCP backend is being built. Until
// it lands, a build for Windows stops at this one line, whose undefined name
// is the message, rather than at the many Unix-only names the other files
// use.
const _ = ioloop_does_not_support_Windows_yet__the_IOCP_backend_is_being_built
