// Package netconn adapts an ioloop.Loop to the standard library's
// net.Conn and net.Listener, for code that needs those interfaces:
// crypto/tls, net/http, gRPC, anything written against package net.
//
//	nw, err := netconn.New(netconn.Options{}) // a loop on a goroutine of its own
//	ln, err := nw.Listen("tcp", "127.0.0.1:8080")
//	http.Serve(ln, handler)                  // net/http, unchanged
//	conn, err := nw.DialContext(ctx, "tcp", "127.0.0.1:9000")
//	tlsConn := tls.Client(conn, config)      // crypto/tls over the loop
//
// The package-level Listen, Dial and DialContext do the same through a
// default Network started on first use (Default).
//
// # Design
//
// A Network owns one Loop and the goroutine that runs it. Everything that
// touches the loop happens on that goroutine; callers on other goroutines
// reach it only through ioloop.Post, which neither blocks nor allocates.
//
// A blocking Read hands its buffer to the loop and waits: it posts a
// request, the loop submits an ioloop.Recv with the connection's own
// Completion, and the callback stores the result and wakes the caller
// through a one-slot channel that belongs to the connection. Write is the
// same with ioloop.Send, which sends the whole buffer. Each connection has
// two such directions, so a Read and a Write run at the same time;
// concurrent Reads (or Writes) wait for each other on a mutex, as they do
// with net.TCPConn. A direction owns four Completions: its operation, its
// deadline timer, and one Cancel for each of them; a connection adds one
// for closing its descriptor. A Read or Write allocates nothing in steady
// state, with or without deadlines (TestReadWriteAllocateNothing).
//
// The loop's goroutine is locked to its OS thread (on io_uring that also
// gives the ring IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN), and after
// a run of the loop that woke callers it yields (runtime.Gosched) before
// it waits in the kernel again, so that the callers run, and post their
// next requests, first. Both were measured with net/http under wrk
// (docs/BENCHMARKS.md, "net.Conn adapter"): without the yield, with
// GOMAXPROCS=1 the woken callers waited for the runtime's monitor to take
// the processor back from the thread blocked in io_uring_enter or
// epoll_wait, and the server sat mostly idle. On a contended machine the
// locked thread cost 0.92-0.93x net/http's CPU per request where an
// ordinary goroutine (Options.UnlockedThread) cost 1.19-1.31x; on a
// quieter one the two were alike.
//
// # Deadlines
//
// SetDeadline, SetReadDeadline and SetWriteDeadline follow net.Conn: a
// deadline applies to pending and future calls, one already past fails
// them at once, and a Read or Write past its deadline returns a
// *net.OpError that matches os.ErrDeadlineExceeded with errors.Is and
// whose Timeout method reports true. Setting a later deadline (or none)
// makes the connection usable again.
//
// A deadline is an atomic on the connection, read on the monotonic clock.
// Setting one while a call is blocked posts a notice to the loop (at most
// one queued per direction), which re-evaluates the direction's timer: a
// deadline already past cancels the operation in flight (ioloop.Cancel),
// an earlier one cancels the armed ioloop.Timeout and arms it again, and
// a later one leaves the timer to fire, find the deadline not yet due and
// re-arm. A timer is never canceled just because the operation finished
// first, so a connection read under one deadline (an idle timeout) arms
// its timer once, not once per Read. A Write canceled by its deadline
// reports the bytes it had sent.
//
// # Closing
//
// Close cancels the connection's pending operations and timers, which
// return net.ErrClosed (wrapped in *net.OpError), closes the descriptor
// once nothing of the connection is in flight (the kernel must not see a
// number that may already belong to another file), and returns when it is
// closed. Listener.Close does the same for a blocked Accept. There is no
// finalizer: a connection that is never closed keeps its descriptor until
// Network.Close, as a leaked *os.File would without its finalizer.
// Network.Close
// closes the loop with everything on it: every blocked call returns
// net.ErrClosed and every descriptor is closed; later calls fail with
// net.ErrClosed.
//
// # Errors
//
// Errors are what the net package returns: *net.OpError (Op "read",
// "write", "dial", "accept", "close", "set", with the addresses), with an
// *os.SyscallError holding the errno inside, so that errors.Is(err,
// syscall.ECONNREFUSED) and errors.Is(err, syscall.ECONNRESET) work. The
// end of the stream is io.EOF, unwrapped. Errors are built on the failure
// path only.
//
// # Addresses
//
// Listen and Dial take network "tcp", "tcp4" or "tcp6" and the address
// forms net.Listen and net.Dial take ("127.0.0.1:8080", ":8080",
// "localhost:8080", "[::1]:8080"). Host names are resolved with
// net.DefaultResolver on the caller's goroutine, never on the loop's. Dial
// tries a name's addresses one after another (no Happy Eyeballs race).
// Addresses are *net.TCPAddr. Unix sockets, SyscallConn, socket options
// beyond TCP_NODELAY (set, as net does) and ReadFrom/WriteTo (sendfile,
// splice) are not offered yet.
//
// # Conformance and cost
//
// The package passes golang.org/x/net/nettest.TestConn, the net.Conn
// conformance suite, on io_uring and epoll, with the race detector, both
// with two netconn ends and with a net.TCPConn at the other end; net/http
// serves through it to the Go client (HTTP/1.1, and HTTP/2 over TLS) and
// to curl, plain and over TLS. x/net is a test-only dependency: the
// package's non-test code imports only the standard library,
// golang.org/x/sys and ioloop.
//
// Each blocking call crosses goroutines twice (the caller posts and parks
// on a channel, the loop's callback wakes it), where the net package's
// poller tries the system call on the caller's goroutine and parks only
// when it would block; the loop in exchange batches the system calls of
// all connections into few io_uring_enter calls. For the cost measured
// with wrk against the same net/http handler on net.Listen, see "net.Conn
// adapter" in docs/BENCHMARKS.md (examples/nethttp/bench.sh). Servers that
// want all of the loop's speed use it directly, or the connection layer
// (package github.com/ioloop/ioloop/conn).
package netconn
