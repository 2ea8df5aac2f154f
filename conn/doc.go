// Package conn is a connection layer on an ioloop.Loop: a Conn with an
// input buffer, framing helpers and a coalescing write queue; read, write
// and idle timeouts; graceful close; a Listener and Dial that take the
// address forms Go programs use; and errors that name the operation and
// the address, as Go's net package does.
//
// A server implements Handler. The layer calls OnOpen once per connection,
// OnData whenever new input is buffered, and OnClose exactly once, on every
// path (the peer closed, an error, a timeout, Close, Abort, Loop.Close).
// OnData consumes what it can with ReadUntil, Next, Peek and Discard, and
// leaves an incomplete frame buffered for the next OnData; replies go out
// with Write, which copies into the write queue: every Write made in one
// OnData leaves in one send system call (one vectored sendmsg when the
// queue spans several segments), after OnData returns.
//
// Everything runs on the loop's goroutine, and nothing in this package is
// safe to call from another goroutine: hand work to the loop with
// ioloop.Post. The layer is built only on ioloop's public API, so a server
// written on it runs unchanged on io_uring, epoll, kqueue and the
// deterministic simulator (package sim).
//
// In steady state nothing allocates per message: receiving, delivering,
// writing, sending and re-arming timeouts reuse each connection's
// Completions and buffers. Accepting or dialing a connection allocates
// it, and error paths allocate their *OpError.
//
// docs/ARCHITECTURE.md, "Writing a server", is the guide.
package conn
