package ioloop

import (
	"testing"
)

// BenchmarkIOCPSkipOnSuccess measures what FILE_SKIP_COMPLETION_PORT_ON_SUCCESS
// buys: a Send of 64 bytes and the Recv that gets them on a loopback TCP
// pair, one round per iteration, with the mode set (a call that succeeds
// at once completes inline) and without (every call waits for its packet).
//
//	bash .ci/wine.sh -run '^$' -bench IOCPSkipOnSuccess -benchtime 20000x
func BenchmarkIOCPSkipOnSuccess(b *testing.B) {
	for _, skip := range []bool{true, false} {
		name := "skip"
		if !skip {
			name = "packet"
		}
		b.Run(name, func(b *testing.B) {
			saved := iocpSkipOnSuccess
			iocpSkipOnSuccess = skip
			defer func() { iocpSkipOnSuccess = saved }()
			l := newTestLoop(b, Options{Backend: BackendIOCP})
			client, server := benchTCPPair(b, l)
			s := &allocState{loop: l}
			out, in := pattern(64, 1), make([]byte, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				Send(l, &s.c, client, out, s, (*allocState).onCount)
				Recv(l, &s.c2, server, in, s, (*allocState).onCount)
				if err := l.Run(); err != nil { // until both have called back
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if s.got != 2*b.N {
				b.Fatalf("%d callbacks, want %d", s.got, 2*b.N)
			}
			if s.err != nil {
				b.Fatal(s.err)
			}
		})
	}
}

// benchTCPPair is tcpPair for a benchmark.
func benchTCPPair(b *testing.B, l *Loop) (client, server int) {
	b.Helper()
	c, s := tcpPairTracked(b, l, loopback4)
	return c.fd, s.fd
}
