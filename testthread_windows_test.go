package ioloop

import "golang.org/x/sys/windows"

// osThreadID returns the calling OS thread's id (GetCurrentThreadId), by
// which tests check that callbacks run on a loop's locked thread.
func osThreadID() int { return int(windows.GetCurrentThreadId()) }
