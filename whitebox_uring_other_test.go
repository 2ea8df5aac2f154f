//go:build !linux

package ioloop

// Without io_uring no loop has a uringBackend: this stand-in, with the
// fields and views the white-box tests read, lets those tests compile, and
// uringOf always returns nil, so they never reach it.
type uringBackend struct {
	doorbells    *struct{ peers []struct{ loop *Loop } }
	singleIssuer bool
	deferTaskrun bool
}

func uringOf(*Loop) *uringBackend { return nil }

func (*uringBackend) overflowLen() int     { return 0 }
func (*uringBackend) sqEntries() uint32    { return 0 }
func (*uringBackend) cqEntries() uint32    { return 0 }
func (*uringBackend) cqOverflowCount() int { return 0 }
func (*uringBackend) publishSQ() uint32    { return 0 }
func (*uringBackend) canRingAny() bool     { return false }
