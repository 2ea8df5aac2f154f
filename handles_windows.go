package ioloop

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/windows"
)

// Windows hands out the value of a closed handle again, as Unix does
// descriptor numbers, and an IOCP loop remembers things per handle value:
// whether it is a socket, and above all whether it is associated with the
// loop's completion port. A handle associated with no port completes its
// overlapped calls without a packet, so a loop that wrongly believed a new
// handle associated would wait forever. The readiness backends recover from
// a number reused behind their back (EPOLL_CTL_MOD answers ENOENT); on
// Windows nothing answers, so the package records the birth of every
// handle it creates (ListenTCP, TCPSocket, UDPSocket, the sockets AcceptEx
// fills, OpenAt's files), and a loop drops what it knew of a handle born
// after it learned it. Handles made outside the package (os.Open, package
// net, WSASocket called directly) and closed outside the loop while the
// loop knows them remain a program error: close them through the loop.
var handleBirths struct {
	// seq counts births; a loop whose record is as recent as seq needs no
	// lookup.
	seq atomic.Uint64
	mu  sync.Mutex
	// of maps a handle value to the seq of its latest birth. It grows to
	// the number of distinct handle values the package has created, which
	// Windows keeps small by reusing them.
	of map[windows.Handle]uint64
}

// noteHandleBorn records that the package created h.
func noteHandleBorn(h windows.Handle) {
	handleBirths.mu.Lock()
	if handleBirths.of == nil {
		handleBirths.of = make(map[windows.Handle]uint64)
	}
	handleBirths.of[h] = handleBirths.seq.Add(1)
	handleBirths.mu.Unlock()
}

// handleBorn returns the seq of h's latest birth (0: not created by the
// package) and the current seq.
func handleBorn(h windows.Handle) (born, now uint64) {
	handleBirths.mu.Lock()
	born, now = handleBirths.of[h], handleBirths.seq.Load()
	handleBirths.mu.Unlock()
	return born, now
}
