package ioloop_test

import (
	"fmt"
	"log"

	"github.com/ioloop/ioloop"
)

type nopCounter struct{ done int }

func (n *nopCounter) onNop(*ioloop.Completion, error) { n.done++ }

// Stats reads the loop's counters on its own goroutine: here between
// runs; from another goroutine, post a function that calls it.
func ExampleLoop_Stats() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	var counter nopCounter
	completions := make([]ioloop.Completion, 3)
	for i := range completions {
		ioloop.Nop(loop, &completions[i], &counter, (*nopCounter).onNop)
	}
	st := loop.Stats()
	fmt.Println("before Run:", st.Op("Nop"), "in flight:", st.InFlight)
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	st = loop.Stats()
	fmt.Println("after Run:", st.Op("Nop"), "in flight:", st.InFlight)
	for op, counts := range st.Ops {
		if counts.Submitted > 0 {
			fmt.Printf("%s submitted %d, completed %d\n", ioloop.Op(op), counts.Submitted, counts.Completed)
		}
	}
	// Output:
	// before Run: {3 0} in flight: 3
	// after Run: {3 3} in flight: 0
	// Nop submitted 3, completed 3
}
