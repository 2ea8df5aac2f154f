//go:build !linux

package ioloop

// Without io_uring, uringOf always returns nil and Loop.uring stays nil, so
// the tests never call these; they exist so that those tests compile.

func (*uringBackend) overflowLen() int     { return 0 }
func (*uringBackend) sqEntries() uint32    { return 0 }
func (*uringBackend) cqEntries() uint32    { return 0 }
func (*uringBackend) cqOverflowCount() int { return 0 }
func (*uringBackend) publishSQ() uint32    { return 0 }
