//go:build !windows

package ioloop_test

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ioloop/ioloop"
	"golang.org/x/sys/unix"
)

// jobs is state that other goroutines share with a loop: they append under
// the mutex and Trigger the Event; the loop takes the whole batch in one
// callback, however many triggers it coalesced.
type jobs struct {
	loop    *ioloop.Loop
	ready   *ioloop.Event
	wait    ioloop.Completion
	mu      sync.Mutex
	pending []string
	done    int
}

func (j *jobs) listen() { ioloop.WaitEvent(j.loop, &j.wait, j.ready, j, (*jobs).onReady) }

func (j *jobs) onReady(_ *ioloop.Completion, triggers int, err error) {
	if err != nil {
		return // ErrCanceled: Close
	}
	j.mu.Lock()
	batch := j.pending
	j.pending = nil
	j.mu.Unlock()
	j.done += len(batch)
	j.listen() // re-arm; triggers that arrive meanwhile are kept
}

// ExampleEvent hands work from other goroutines to a loop through an
// Event: a trigger is never lost, and many triggers coalesce into one
// callback.
func ExampleEvent() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()
	j := &jobs{loop: loop, ready: ioloop.NewEvent(loop)}
	j.listen()

	var producers sync.WaitGroup
	for p := range 4 {
		producers.Add(1)
		go func() {
			defer producers.Done()
			for i := range 25 {
				j.mu.Lock()
				j.pending = append(j.pending, fmt.Sprintf("job %d.%d", p, i))
				j.mu.Unlock()
				j.ready.Trigger()
			}
		}()
	}
	producers.Wait()
	for j.done < 100 {
		if err := loop.Tick(); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("jobs done:", j.done)
	// Output: jobs done: 100
}

type counter struct {
	loop *ioloop.Loop
	n    int
}

func (c *counter) add() {
	c.n++
	if c.n == 3 {
		c.loop.Stop() // end the RunFor that runs us
	}
}

// ExamplePost runs functions on a loop's goroutine from another goroutine.
// Post never blocks: a full inbox is ErrQueueFull, for the caller to handle.
func ExamplePost() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()
	c := &counter{loop: loop}
	go func() {
		for range 3 {
			if err := ioloop.Post(loop, c, (*counter).add); err != nil {
				fmt.Println(err)
			}
		}
	}()
	if err := loop.RunFor(time.Minute); err != nil { // Stop ends it early
		fmt.Println(err)
	}
	fmt.Println("ran", c.n, "posted functions")
	// Output: ran 3 posted functions
}

type shard struct {
	loop     *ioloop.Loop
	listenFD int
	accept   ioloop.Completion
	close    ioloop.Completion
}

func (s *shard) onAccept(_ *ioloop.Completion, fd int, err error) {
	if err != nil {
		return // ErrCanceled at shutdown
	}
	// This shard only counts connections: close each, and accept the next
	// once the close Completion is free again.
	ioloop.Close(s.loop, &s.close, fd, s, (*shard).onClosed)
}

func (s *shard) onClosed(_ *ioloop.Completion, err error) {
	if err == nil {
		ioloop.Accept(s.loop, &s.accept, s.listenFD, s, (*shard).onAccept)
	}
}

// ExampleStartGroup runs one loop per CPU, each accepting on its own
// SO_REUSEPORT listener, and shuts them down in order.
func ExampleStartGroup() {
	fds, addr, err := ioloop.ListenTCPShards(netip.MustParseAddrPort("127.0.0.1:0"), 2, ioloop.ListenOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	shards := make([]*shard, len(fds))
	group, err := ioloop.StartGroup(ioloop.GroupOptions{
		Loops: len(fds),
		Stopping: func(l *ioloop.Loop, i int) {
			unix.Close(shards[i].listenFD) // stop accepting before the loop closes
		},
	}, func(l *ioloop.Loop, i int) error {
		shards[i] = &shard{loop: l, listenFD: fds[i]}
		ioloop.Accept(l, &shards[i].accept, fds[i], shards[i], (*shard).onAccept)
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 10 {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			fmt.Println(err)
			return
		}
		c.Close()
	}
	fmt.Println("loops:", group.Len(), "shutdown:", group.Shutdown())
	// Output: loops: 2 shutdown: <nil>
}
