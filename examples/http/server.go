//go:build !windows

package main

// server is the HTTP/1.1 protocol of one loop, apart from the
// connections: process takes a connection's buffered input, answers
// every complete request in it, and says how much it consumed and whether
// the connection must close. Everything runs on the loop's goroutine, so
// the request, the writer and the decoding buffer are one set per loop,
// reused by every connection in turn.
type server struct {
	lim      limits
	date     *dateCache
	handlers *handlers

	req request
	w   responseWriter
	// chunkBuf receives chunked request bodies, decoded.
	chunkBuf []byte
}

// session is one connection's state between two reads.
type session struct {
	// continued: a "100 Continue" went out for the request at the head of
	// the input, whose body has not all arrived yet.
	continued bool
	// closing: the connection is closing after a response that said so;
	// whatever else arrives is discarded.
	closing bool
	// stream, when stream.total > 0, is a response still being streamed
	// (its next chunk is next, counting from 1): process answers nothing
	// until it has ended; streamKeepAlive says whether the connection
	// stays open after it, streamRaw whether the body goes without the
	// chunked coding (HTTP/1.0).
	stream          streamRequest
	streamNext      int
	streamKeepAlive bool
	streamRaw       bool
}

// streaming reports whether a response is being streamed.
func (sess *session) streaming() bool { return sess.stream.total > 0 }

// Default limits: a header section of 8 KiB (what nginx's
// large_client_header_buffers allows per line, and Go's net/http about
// its default of 1 MiB is far more generous) and a body of 1 MiB.
const (
	defaultHeaderBytes = 8 << 10
	defaultBodyBytes   = 1 << 20
)

func newServer(lim limits) *server {
	s := &server{lim: lim, date: newDateCache(), handlers: newHandlers()}
	s.w.date = s.date
	return s
}

// maxInputBytes is the most a connection buffers: one request's header
// section and body, with room for a chunked body's framing (a body of
// 1-byte chunks is about six times its size; beyond maxChunkedOverhead it
// is refused with 413 even when its decoded size would fit).
func (lim limits) maxInputBytes() int {
	return lim.headerBytes + lim.bodyBytes*maxChunkedOverhead + maxChunkLine
}

const maxChunkedOverhead = 2

// process answers every complete request at the start of in, appending
// the responses to s.w.out in request order. It returns how many bytes of
// in the answered requests took (the caller consumes them) and whether
// the connection must close once the responses are sent: the request
// said so, or it was malformed or too large, which leaves the rest of the
// input unparseable (then the whole input counts as consumed).
func (s *server) process(sess *session, in []byte) (consumed int, closeConn bool) {
	if sess.closing {
		return len(in), true
	}
	if sess.streaming() {
		return 0, false // the caller holds input while it streams
	}
	s.date.refresh()
	for consumed < len(in) {
		n, st := s.parseOne(in[consumed:])
		switch st {
		case parsed:
		case needMore:
			if len(in)-consumed > s.lim.maxInputBytes() {
				st = 413
				break
			}
			if s.req.headLen > 0 && s.req.expectCont && s.req.minor == 1 && !sess.continued {
				// RFC 9110 section 10.1.1: the client waits for this before
				// sending the body (an HTTP/1.0 client gets no 1xx).
				s.appendContinue()
				sess.continued = true
			}
			return consumed, false
		}
		if st != parsed {
			// An error status: the framing of what follows is unknown, so
			// the connection closes after the answer.
			s.w.prepare(&s.req)
			s.w.keepAlive, s.w.head = false, false
			s.w.errorResponse(st)
			sess.closing = true
			return len(in), true
		}
		s.w.prepare(&s.req)
		s.handlers.serve(&s.req, &s.w)
		consumed += n
		sess.continued = false
		if s.w.streamRequest.total > 0 {
			// The handler goes on from the loop's timer: stop here, and
			// leave the requests behind this one buffered until it ends.
			sess.stream, sess.streamNext = s.w.streamRequest, 1
			sess.streamKeepAlive, sess.streamRaw = s.w.keepAlive, s.w.rawBody
			return consumed, false
		}
		if !s.w.keepAlive {
			sess.closing = true
			return len(in), true
		}
	}
	return consumed, false
}

// parseOne parses the request at the start of in: its length and parsed,
// needMore (s.req.headLen > 0 when the header section is complete) or an
// error status.
func (s *server) parseOne(in []byte) (int, int) {
	if st := parseHead(in, &s.req, &s.lim); st != parsed {
		if st == needMore {
			s.req.headLen = 0
		}
		return 0, st
	}
	if s.req.chunked {
		n, st, buf := s.req.decodeChunked(in, s.chunkBuf, &s.lim)
		s.chunkBuf = buf
		return n, st
	}
	// Neither Content-Length nor chunked: a request has no body (RFC 9112
	// section 6.3), so no 411 is ever needed.
	n := s.req.fixedBody(in)
	if n == needMore {
		return 0, needMore
	}
	return n, parsed
}

// appendContinue writes the interim response that asks for the body.
func (s *server) appendContinue() {
	s.w.out = append(s.w.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
}

// nextStreamChunk appends the next chunk of the response sess streams to
// dst, and the end of the body after the last. done reports that the
// stream has ended; keepAlive then says whether the connection stays
// open.
func (sess *session) nextStreamChunk(dst []byte, scratch []byte) (out, scratchOut []byte, done, keepAlive bool) {
	scratch = appendChunkText(scratch[:0], sess.streamNext, sess.stream.total)
	if sess.streamRaw {
		dst = append(dst, scratch...)
	} else {
		dst = appendChunk(dst, scratch)
	}
	sess.streamNext++
	if sess.streamNext <= sess.stream.total {
		return dst, scratch, false, false
	}
	if !sess.streamRaw {
		dst = append(dst, lastChunk...)
	}
	sess.stream = streamRequest{}
	if !sess.streamKeepAlive {
		sess.closing = true
	}
	return dst, scratch, true, sess.streamKeepAlive
}
