package ioloop

// openDirect fails: OpenBSD has neither O_DIRECT nor a per-descriptor way
// to bypass its buffer cache.
func openDirect(string, int, uint32) (int, error) {
	return -1, errNoDirectIO
}
