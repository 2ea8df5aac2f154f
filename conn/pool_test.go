package conn_test

import "github.com/ioloop/ioloop"

func ioloopPool(e *env, count, size int) (*ioloop.BufferPool, error) {
	return ioloop.NewBufferPool(e.loop, count, size)
}
