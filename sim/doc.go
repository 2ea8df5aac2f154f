// Package sim runs ioloop programs on a deterministic simulated world: the
// TigerBeetle and FoundationDB way of testing distributed and storage
// systems, for Go.
//
// A World holds nodes, each with its own *ioloop.Loop, addresses and disk,
// one virtual clock and one random sequence drawn from a seed. A program
// written against *ioloop.Loop (sockets from Loop.ListenTCP and
// Loop.TCPSocket, files from OpenAt, time from Loop.Now and Timeout) runs
// on a node unchanged: same operations, same results and errors, and
// exactly one callback per operation. The exception: the callbacks of a
// node that crashes never run.
//
// The world injects what production rarely shows: partial reads and
// writes, latency that reorders traffic across connections, refused and
// timed-out connects, resets, partitions (one-way too), disk I/O errors
// (transient and sticky), failed Fsyncs, and crashes that lose or tear the
// writes no Fsync covered. Every choice comes from the seed, so a failing
// seed fails the same way every time, and its trace (World.SetTrace) shows
// what happened, event by event.
//
// Idle stretches cost nothing: the clock jumps to the next event, so a
// simulated hour can take milliseconds. See docs/SIMULATION.md for a guide,
// and examples/dst for a complete example.
package sim
