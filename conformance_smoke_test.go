package ioloop

import (
	"testing"
	"time"
)

type counter struct{ calls int }

func (c *counter) onNop(_ *Completion, err error) {
	if err != nil {
		panic(err)
	}
	c.calls++
}

func TestSmokeNopTimeout(t *testing.T) {
	forEachBackend(t, Options{}, func(t *testing.T, l *Loop) {
		var cnt counter
		var cs [10]Completion
		for i := range cs {
			Nop(l, &cs[i], &cnt, (*counter).onNop)
		}
		if err := l.Run(); err != nil {
			t.Fatal(err)
		}
		if cnt.calls != 10 {
			t.Fatalf("calls = %d", cnt.calls)
		}
		var tc Completion
		start := l.Now()
		Timeout(l, &tc, 20*time.Millisecond, &cnt, (*counter).onNop)
		if err := l.Run(); err != nil {
			t.Fatal(err)
		}
		if e := l.Now().Sub(start); e < 20*time.Millisecond || cnt.calls != 11 {
			t.Fatalf("elapsed %v calls %d", e, cnt.calls)
		}
	})
}
