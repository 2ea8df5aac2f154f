// Package ioloop is a single-threaded, completion-based I/O event loop in
// pure Go, over io_uring on Linux, with epoll (Linux) and kqueue (macOS and
// the BSDs) where io_uring is unavailable.
//
// # Model
//
// Code anywhere in a program schedules I/O by handing the Loop an operation
// together with a caller-owned Completion and a callback:
//
//	ioloop.Recv(loop, &conn.recv, conn.fd, conn.buf, conn, (*Conn).onRecv)
//
// Operations queue up and go to the kernel in one system call when the
// goroutine that owns the loop calls RunFor, Tick or Run; their results come
// back in batches, and each callback runs exactly once, on that goroutine,
// outside of the flush, so a callback may submit more work, including with
// its own Completion.
//
// # Callbacks and context
//
// Every operation function takes a context pointer of any type *T and a
// callback that receives it back with its static type. With a method
// expression as the callback, (*Conn).onRecv above, nothing is allocated per
// operation: the Completion stores the pointer and the function, and the
// loop restores the types when it calls back. Operations that produce a
// count or a file descriptor call back with (n int, err error); the others
// with (err error).
//
// # Errors
//
// Results are values: kernel errors are syscall.Errno values (so
// errors.Is(err, syscall.ECONNRESET) works), canceled operations get
// ErrCanceled, and a read that reaches end of stream gets io.EOF. Programming
// errors, such as resubmitting a Completion that is still in flight, panic
// with a message that names the mistake.
//
// # Platforms
//
// On Linux the loop runs on io_uring, or on epoll where io_uring is
// unavailable (see Options.Backend). On macOS, FreeBSD, NetBSD and OpenBSD
// it runs on kqueue. The operations and their results are the same
// everywhere, with these exceptions: Statx exists on Linux only; the '@'
// prefix for abstract unix socket addresses is Linux's (elsewhere it is
// part of the path); Fdatasync is a full fsync on the BSDs, and both are
// F_FULLFSYNC on macOS; Readv and Writev are not atomic on FreeBSD, NetBSD
// and OpenBSD; OpenDirect has no direct I/O on OpenBSD. The promise below
// of no allocation per operation is Linux's: on kqueue, Accept, Connect,
// OpenAt (and Readv and Writev on macOS) go through x/sys wrappers that
// allocate.
//
// # Other goroutines and other cores
//
// A Loop is single-threaded, but other goroutines can hand it work without
// locks around the loop: Post queues a function to run on the loop's
// goroutine (bounded; ErrQueueFull when full), an Event (NewEvent, Trigger,
// WaitEvent) wakes a waiting operation with a count of coalesced triggers,
// and Stop ends a running RunFor or Run. Each is safe from any goroutine,
// allocation-free, and costs a system call only when the loop is blocked.
// Message is Post between two loops, which on io_uring rings the target
// with IORING_OP_MSG_RING inside the sender's own submission. StartGroup
// runs one loop per core, each on its own locked OS thread with its own
// SO_REUSEPORT listener (ListenTCPShards), and shuts them down in order.
// docs/ARCHITECTURE.md compares per-core loops with one loop and a worker
// pool.
//
// # Simulation
//
// Package sim (github.com/ioloop/ioloop/sim) runs a program written against
// *Loop on a deterministic simulated world instead of the kernel: virtual
// time, a network between nodes and a disk per node, with seeded faults and
// crashes. Programs that create sockets through the Loop methods ListenTCP
// and TCPSocket, read time through Loop.Now, and do all their I/O through
// the loop run unchanged there. See docs/SIMULATION.md in the repository.
//
// # Memory
//
// The loop keeps every Completion and buffer the kernel may touch reachable
// until the callback starts, and never allocates per operation in steady
// state. The caller must not modify a buffer while an operation on it is in
// flight. See docs/ARCHITECTURE.md in the repository for the invariants.
package ioloop
