package ioloop_test

import (
	"fmt"
	"log"
	"time"

	"github.com/ioloop/ioloop"
)

// A summer adds up the numbers 1 to n in chunks, and yields to the loop
// between chunks with NextTick, so that a long computation does not keep
// the loop's other callbacks waiting.
type summer struct {
	loop   *ioloop.Loop
	tick   ioloop.Completion
	next   int
	n      int
	sum    int
	chunks int
}

func (s *summer) onTick(_ *ioloop.Completion, err error) {
	if err != nil {
		return // ErrCanceled or ErrClosed: the loop is closing
	}
	end := min(s.next+1000, s.n+1)
	for ; s.next < end; s.next++ {
		s.sum += s.next
	}
	s.chunks++
	if s.next <= s.n {
		ioloop.NextTick(s.loop, &s.tick, s, (*summer).onTick) // the rest on the next pass
	}
}

// ExampleNextTick splits a computation into chunks that run on successive
// passes of the loop, without any system call in between.
func ExampleNextTick() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loop.Close()
	s := &summer{loop: loop, next: 1, n: 10_000}
	ioloop.NextTick(loop, &s.tick, s, (*summer).onTick)
	if err := loop.Run(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("1+...+%d = %d in %d chunks\n", s.n, s.sum, s.chunks)
	// Output: 1+...+10000 = 50005000 in 10 chunks
}

// A rally bounces a ball between two loops, each driven by its own
// goroutine: each hit is a Message from the loop that runs it to the
// other one.
type rally struct {
	a, b  *ioloop.Loop
	serve ioloop.Completion
	hits  int // written by one loop at a time, handed over by Message
}

func (r *rally) onServe(_ *ioloop.Completion, err error) {
	if err == nil {
		r.hit(r.a, r.b, (*rally).onB)
	}
}

// onB and onA run on b's and a's goroutine respectively.
func (r *rally) onB() { r.hit(r.b, r.a, (*rally).onA) }
func (r *rally) onA() { r.hit(r.a, r.b, (*rally).onB) }

// hit runs on from's goroutine; it sends the ball to the other loop, or
// ends the rally after six hits.
func (r *rally) hit(from, to *ioloop.Loop, fn func(*rally)) {
	if r.hits == 6 {
		fmt.Println("rally over")
		from.Stop()
		to.Stop()
		return
	}
	r.hits++
	side := "a"
	if from == r.b {
		side = "b"
	}
	fmt.Println("hit", r.hits, "by", side)
	if err := ioloop.Message(from, to, r, fn); err != nil {
		fmt.Println("message:", err) // ErrQueueFull or ErrClosed
	}
}

// ExampleMessage has two loops send work to each other. Message is Post
// from a loop's own goroutine, typically from a callback; between io_uring
// loops it rings the target inside the sender's own submission.
func ExampleMessage() {
	a, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := ioloop.New(ioloop.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	bDone := make(chan error)
	go func() { bDone <- b.RunFor(time.Minute) }() // until the rally's Stop

	r := &rally{a: a, b: b}
	ioloop.NextTick(a, &r.serve, r, (*rally).onServe) // serve from a callback on a
	if err := a.RunFor(time.Minute); err != nil {
		log.Fatal(err)
	}
	if err := <-bDone; err != nil {
		log.Fatal(err)
	}
	// Output:
	// hit 1 by a
	// hit 2 by b
	// hit 3 by a
	// hit 4 by b
	// hit 5 by a
	// hit 6 by b
	// rally over
}
