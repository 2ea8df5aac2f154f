package ioloop

import (
	"slices"
	"sync"
	"testing"

	"github.com/ioloop/ioloop/internal/uring"
	"golang.org/x/sys/unix"
)

// TestDurableFlagsReachKernel: a durable write asks the kernel for
// durability in the same request. On io_uring the WRITE or WRITEV SQE
// carries RWF_DSYNC (DataSync) or RWF_SYNC (FileSync) in rw_flags, and a
// plain Write carries none; on epoll the worker calls pwritev2 with the
// same flags (pwritev2Observed sees each call).
func TestDurableFlagsReachKernel(t *testing.T) {
	writes := func(t *testing.T, l *Loop, after func(what string, opcode uint8, flags uint32)) {
		_, fd := tempFile(t, l, []byte("0123456789"))
		bufs := [][]byte{[]byte("a"), []byte("b")}
		steps := []struct {
			what   string
			opcode uint8
			flags  uint32
			submit func(c *Completion, r *opResult)
		}{
			{"WriteDurable(DataSync)", uring.OpWrite, uring.RWFDSync, func(c *Completion, r *opResult) {
				WriteDurable(l, c, fd, bufs[0], 0, DataSync, r, (*opResult).onCount)
			}},
			{"WriteDurable(FileSync)", uring.OpWrite, uring.RWFSync, func(c *Completion, r *opResult) {
				WriteDurable(l, c, fd, bufs[0], -1, FileSync, r, (*opResult).onCount)
			}},
			{"WritevDurable(DataSync)", uring.OpWritev, uring.RWFDSync, func(c *Completion, r *opResult) {
				WritevDurable(l, c, fd, bufs, 2, DataSync, r, (*opResult).onCount)
			}},
			{"WritevDurable(FileSync)", uring.OpWritev, uring.RWFSync, func(c *Completion, r *opResult) {
				WritevDurable(l, c, fd, bufs, -1, FileSync, r, (*opResult).onCount)
			}},
			{"Write", uring.OpWrite, 0, func(c *Completion, r *opResult) {
				Write(l, c, fd, bufs[0], 0, r, (*opResult).onCount)
			}},
		}
		for _, step := range steps {
			c, r := new(Completion), new(opResult)
			step.submit(c, r)
			after(step.what, step.opcode, step.flags)
			await(t, l, r)
			if r.err != nil || r.n <= 0 {
				t.Fatalf("%s: n=%d err=%v", step.what, r.n, r.err)
			}
		}
	}

	t.Run("io_uring", func(t *testing.T) {
		l := newTestLoop(t, Options{Backend: BackendIOUring})
		writes(t, l, func(what string, opcode uint8, flags uint32) {
			// Submitted with room in the SQ, the SQE is written at once.
			sqe := uringOf(l).ring.LastSQE()
			if sqe.Opcode != opcode || sqe.OpFlags != flags {
				t.Fatalf("%s: SQE opcode %s rw_flags %#x, want %s and %#x",
					what, uring.OpName(sqe.Opcode), sqe.OpFlags, uring.OpName(opcode), flags)
			}
		})
	})

	t.Run("epoll", func(t *testing.T) {
		var mu sync.Mutex
		var seen []int
		pwritev2Observed = func(flags int) {
			mu.Lock()
			seen = append(seen, flags)
			mu.Unlock()
		}
		t.Cleanup(func() { pwritev2Observed = nil }) // after the loop's Close, which stops the workers
		l := newTestLoop(t, Options{Backend: BackendEpoll})
		var want []int
		writes(t, l, func(_ string, _ uint8, flags uint32) {
			if flags != 0 {
				want = append(want, int(flags))
			}
		})
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(seen, want) {
			t.Fatalf("pwritev2 calls with flags %#x, want %#x (RWF_DSYNC %#x, RWF_SYNC %#x; none for a plain Write)",
				seen, want, unix.RWF_DSYNC, unix.RWF_SYNC)
		}
	})
}
