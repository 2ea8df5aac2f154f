package ioloop

import "golang.org/x/sys/windows"

// A second Connect of a socket whose first is still in the kernel.
// connect(2) answers EALREADY there, and the readiness backends wait for
// the socket to become writable and report the handshake's outcome, so
// both Connects succeed (or fail) together. ConnectEx refuses the second
// call instead (under wine 8.0 with WSAEISCONN; WSAEALREADY and WSAEINVAL
// are taken as the same refusal); the backend then parks the second
// Connect in connectWaiters and completes it with the first's result when
// the first's packet arrives (finish). Cancel removes a parked Connect
// (abandon), and Close ends it with ErrCanceled (cancelAll).

// waitForConnect parks op's Connect, which ConnectEx refused, if another
// Connect of its socket is in the kernel, and releases op's record; it
// reports whether it did.
func (b *iocpBackend) waitForConnect(op *iocpOp) bool {
	if !b.connectInKernel(op.handle, op) {
		return false
	}
	c := op.c
	b.ops.put(op)
	c.index = -1
	b.connectWaiters.push(c)
	return true
}

// connectInKernel reports whether a Connect of s other than self's is in
// the kernel. It scans the records: the path is rare (a second Connect
// of one socket), and the common one keeps no state for it.
func (b *iocpBackend) connectInKernel(s windows.Handle, self *iocpOp) bool {
	for i := range b.ops.chunks {
		for j := range b.ops.chunks[i] {
			op := &b.ops.chunks[i][j]
			if op != self && op.c != nil && !op.onWorker && op.c.op == opConnect && op.handle == s {
				return true
			}
		}
	}
	return false
}

// releaseConnectWaiters completes the parked Connects of s with res, the
// result of the Connect of s that has just finished.
func (b *iocpBackend) releaseConnectWaiters(s windows.Handle, res int32) {
	waiters := b.connectWaiters.takeAll()
	for c := waiters.pop(); c != nil; c = waiters.pop() {
		if windows.Handle(c.fd) == s {
			b.loop.complete(c, res)
		} else {
			b.connectWaiters.push(c)
		}
	}
}
