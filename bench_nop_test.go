package ioloop

import (
	"fmt"
	"testing"
)

type nopBench struct {
	loop      *Loop
	remaining int
}

func (b *nopBench) onNop(c *Completion, err error) {
	if err != nil {
		panic(err)
	}
	if b.remaining > 0 {
		b.remaining--
		Nop(b.loop, c, b, (*nopBench).onNop)
	}
}

// BenchmarkNop measures the loop's dispatch cost: batch NOPs in flight,
// each callback resubmitting its Completion, one io_uring_enter per batch.
func BenchmarkNop(b *testing.B) {
	for _, batch := range []int{1, 8, 32, 128} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			l := newTestLoop(b, Options{Entries: uint32(max(batch, 128))})
			state := &nopBench{loop: l}
			cs := make([]Completion, batch)
			b.ReportAllocs()
			b.ResetTimer()
			state.remaining = b.N - batch
			for i := range cs {
				Nop(l, &cs[i], state, (*nopBench).onNop)
			}
			if err := l.Run(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
