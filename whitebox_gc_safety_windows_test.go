package ioloop

import "testing"

// The parts of the GC safety tests (whitebox_gc_safety_test.go) that
// differ by system, for Windows.

// kernelPipe returns a loopback TCP connection, as on the simulator: the
// package makes no pipes the loop can use on Windows (see
// nonblockingPipe). The operations that read it are WSARecvs with their
// buffers and OVERLAPPEDs in the kernel, what the test is about.
func (f *gcFixture) kernelPipe(*testing.T) (r, w int) {
	w, r = f.fds.socketPair()
	return r, w
}
