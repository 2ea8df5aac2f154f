package ioloop

import "golang.org/x/sys/unix"

// osThreadID returns the calling OS thread's id (gettid), by which tests
// check that callbacks run on a loop's locked thread.
func osThreadID() int { return unix.Gettid() }
