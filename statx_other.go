//go:build !linux

package ioloop

// statxBuffer stands in for Linux's struct statx where statx(2) does not
// exist, so that Completion has the same fields on every OS. Nothing
// creates one: the Statx operation is Linux-only.
type statxBuffer struct{}
