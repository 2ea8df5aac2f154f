package conn_test

import (
	"fmt"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/conn"
)

// echoLines is a line echo server: each complete line goes back as it
// came; a partial line waits in the buffer for the rest.
type echoLines struct{}

func (echoLines) OnOpen(*conn.Conn) {}

func (echoLines) OnData(c *conn.Conn) {
	for {
		line, ok := c.ReadUntil('\n')
		if !ok {
			return // incomplete: wait for more input
		}
		c.Write(line) // copied into the write queue; sent when OnData returns
	}
}

func (echoLines) OnClose(*conn.Conn, error) {}

// client sends two lines in three pieces and prints the echoes.
type client struct{ done bool }

func (*client) OnOpen(c *conn.Conn) {
	c.Write([]byte("hello, "))
	c.Write([]byte("world\nsecond "))
	c.Write([]byte("line\n"))
}

func (cl *client) OnData(c *conn.Conn) {
	for {
		line, ok := c.ReadUntil('\n')
		if !ok {
			return
		}
		fmt.Printf("echo: %s", line)
		if string(line) == "second line\n" {
			c.Close()
		}
	}
}

func (cl *client) OnClose(_ *conn.Conn, reason error) {
	fmt.Println("client closed, reason:", reason)
	cl.done = true
}

// A line echo server and a client dialing it, on one loop.
func ExampleListen() {
	loop, err := ioloop.New(ioloop.Options{})
	if err != nil {
		panic(err)
	}
	defer loop.Close()

	ln, err := conn.Listen(loop, "tcp", "127.0.0.1:0", conn.Options{IdleTimeout: time.Minute}, echoLines{})
	if err != nil {
		panic(err)
	}
	defer ln.Close()

	cl := &client{}
	if _, err := conn.Dial(loop, "tcp", ln.Addr(), conn.Options{}, cl); err != nil {
		panic(err)
	}
	for !cl.done {
		loop.RunFor(10 * time.Millisecond)
	}
	// Output:
	// echo: hello, world
	// echo: second line
	// client closed, reason: <nil>
}
