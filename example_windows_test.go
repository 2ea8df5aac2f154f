package ioloop_test

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/windows"
)

// connectResult is the example's Connect context.
type connectResult struct {
	err  error
	done bool
}

// On Windows a failed operation's error keeps the Windows code behind
// its errno name: test the name with errors.Is, as on Linux, and reach
// the code with errors.As.
func ExampleWindowsError() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		panic(err)
	}
	defer loop.Close()
	// A port that was bound and is free again: nobody listens there.
	lfd, addr, err := ioloop.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), ioloop.ListenOptions{})
	if err != nil {
		panic(err)
	}
	windows.Closesocket(windows.Handle(lfd))
	fd, err := loop.TCPSocket(addr)
	if err != nil {
		panic(err)
	}
	defer windows.Closesocket(windows.Handle(fd))

	var c ioloop.Completion
	var r connectResult
	ioloop.Connect(loop, &c, fd, addr, &r, func(r *connectResult, _ *ioloop.Completion, err error) {
		r.err, r.done = err, true
	})
	for !r.done {
		if err := loop.Tick(); err != nil {
			panic(err)
		}
	}
	var we *ioloop.WindowsError
	fmt.Println(errors.Is(r.err, syscall.ECONNREFUSED), errors.As(r.err, &we) && we.Code != 0)
	// Output: true true
}
