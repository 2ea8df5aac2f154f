module github.com/ioloop/ioloop

go 1.24.0

require golang.org/x/sys v0.40.0

// x/net is used by tests only (netconn's nettest conformance suite); no
// non-test code imports it.
require golang.org/x/net v0.49.0
