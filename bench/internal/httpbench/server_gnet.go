package httpbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// gnetHTTP is an HTTP server in the style of gnet's own example
// (gnet-examples, http): a codec per connection kept in the Conn's
// context; OnTraffic parses every complete request of the buffered input
// (pipelining), appends each response to one buffer with the Date
// formatted per response, and writes it once. Unlike the example it
// routes /plaintext and /json and leaves an incomplete request buffered
// (Peek and Discard rather than Next), so that it serves the same
// workload as the other contenders; it has no limits, chunked bodies or
// error handling beyond closing on garbage.
type gnetHTTP struct {
	gnet.BuiltinEventEngine
	addr string
}

type gnetCodec struct {
	buf []byte
}

var crlf2 = []byte("\r\n\r\n")

func (hs *gnetHTTP) OnBoot(gnet.Engine) gnet.Action {
	fmt.Printf("listening %s\n", hs.addr)
	return gnet.None
}

func (hs *gnetHTTP) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&gnetCodec{})
	return nil, gnet.None
}

func (hs *gnetHTTP) OnTraffic(c gnet.Conn) gnet.Action {
	hc := c.Context().(*gnetCodec)
	data, _ := c.Peek(-1)
	consumed := 0
	for {
		n, path, ok := parseGnet(data[consumed:])
		if n < 0 {
			return gnet.Close
		}
		if !ok {
			break
		}
		hc.appendResponse(path)
		consumed += n
	}
	c.Discard(consumed)
	if len(hc.buf) > 0 {
		c.Write(hc.buf)
		hc.buf = hc.buf[:0]
	}
	return gnet.None
}

// parseGnet finds the first request of data: its length, its path, and
// ok; not ok when it is incomplete; n < 0 when it is garbage.
func parseGnet(data []byte) (n int, path []byte, ok bool) {
	end := bytes.Index(data, crlf2)
	if end < 0 {
		return 0, nil, false
	}
	head := data[:end+4]
	sp1 := bytes.IndexByte(head, ' ')
	if sp1 < 0 {
		return -1, nil, false
	}
	sp2 := bytes.IndexByte(head[sp1+1:], ' ')
	if sp2 < 0 {
		return -1, nil, false
	}
	path = head[sp1+1 : sp1+1+sp2]
	bodyLen := 0
	if i := bytes.Index(head, []byte("\r\nContent-Length:")); i >= 0 {
		line := head[i+len("\r\nContent-Length:"):]
		line = line[:bytes.IndexByte(line, '\r')]
		v, err := strconv.Atoi(string(bytes.TrimSpace(line)))
		if err != nil || v < 0 {
			return -1, nil, false
		}
		bodyLen = v
	}
	if len(data) < len(head)+bodyLen {
		return 0, nil, false
	}
	return len(head) + bodyLen, path, true
}

func (hc *gnetCodec) appendResponse(path []byte) {
	var contentType, body string
	switch string(path) {
	case "/plaintext":
		contentType, body = "text/plain", plaintextBody
	case "/json":
		// Encoded per request, as the other contenders do.
		b, _ := json.Marshal(struct {
			Message string `json:"message"`
		}{jsonMessage})
		contentType, body = "application/json", string(b)
	default:
		hc.buf = append(hc.buf, "HTTP/1.1 404 Not Found\r\nServer: gnet\r\nContent-Length: 0\r\n\r\n"...)
		return
	}
	hc.buf = append(hc.buf, "HTTP/1.1 200 OK\r\nServer: gnet\r\nContent-Type: "...)
	hc.buf = append(hc.buf, contentType...)
	hc.buf = append(hc.buf, "\r\nDate: "...)
	hc.buf = time.Now().UTC().AppendFormat(hc.buf, "Mon, 02 Jan 2006 15:04:05 GMT")
	hc.buf = append(hc.buf, "\r\nContent-Length: "...)
	hc.buf = strconv.AppendInt(hc.buf, int64(len(body)), 10)
	hc.buf = append(hc.buf, "\r\n\r\n"...)
	hc.buf = append(hc.buf, body...)
}

// serveGnet runs one gnet event loop (NumEventLoop 1) that owns the
// listener (ReusePort), as the echo workload's gnet server does: the
// whole server is one goroutine on epoll, like the ioloop one.
func serveGnet(addr string) error {
	return gnet.Run(&gnetHTTP{addr: addr}, "tcp://"+addr,
		gnet.WithNumEventLoop(1),
		gnet.WithReusePort(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(quietLogger{}))
}

// quietLogger keeps gnet's notices off stdout and passes on its errors.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", args...)
	os.Exit(1)
}
