package udp

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/ioloop/ioloop/internal/benchkit/proc"
)

// goNetEcho runs an echo server like serveGoNet's on a free port of
// loopback, in this process, dropping every dropEvery-th datagram
// (0: none), until the test ends.
func goNetEcho(t *testing.T, dropEvery int) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	go func() {
		buf := make([]byte, BufSize)
		for i := 1; ; i++ {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed at cleanup
			}
			if dropEvery > 0 && i%dropEvery == 0 {
				continue
			}
			_, _ = conn.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func runLoadAgainst(t *testing.T, addr netip.AddrPort, window time.Duration) Result {
	t.Helper()
	if _, err := proc.ProcessCPU(os.Getpid()); err != nil {
		t.Skipf("cannot measure a server's CPU time here: %v", err)
	}
	// The server runs in this process, so its "server CPU" is the test's:
	// only the mechanics are checked here, not the figures.
	res, err := RunLoad(ClientConfig{Addr: addr, Clients: 4, InFlight: 3, Size: 64, ServerPID: os.Getpid(),
		Warmup: 50 * time.Millisecond, Window: window})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestRunLoadEchoes drives a server that drops nothing: every datagram
// comes back and is counted, none is given up on.
func TestRunLoadEchoes(t *testing.T) {
	res := runLoadAgainst(t, goNetEcho(t, 0), 200*time.Millisecond)
	if res.Messages == 0 || res.MsgsPerSec <= 0 || res.P99us <= 0 {
		t.Errorf("result %+v, want round trips with a rate and latencies", res)
	}
	if res.Lost != 0 || res.Late != 0 {
		t.Errorf("lost %d, late %d from a server that drops nothing", res.Lost, res.Late)
	}
}

// TestRunLoadSurvivesLoss drives a server that drops one datagram in 50:
// without giving up on lost datagrams, the 12 in flight would all be
// lost within the first few hundred round trips and the run would stop
// making progress. With it, a lost datagram costs its slot lostAfter.
func TestRunLoadSurvivesLoss(t *testing.T) {
	window := 8 * lostAfter
	res := runLoadAgainst(t, goNetEcho(t, 50), window)
	if res.Lost == 0 {
		t.Fatalf("nothing counted lost from a server that drops datagrams: %+v", res)
	}
	// Every slot loses a datagram about once per 50 round trips, and then
	// waits lostAfter: over 8 of those, the 12 slots make at least 12*8
	// round trips, and more if the recovery is not what limits them.
	if res.Messages < 12*8 {
		t.Errorf("%d round trips over %v, want at least %d: %+v", res.Messages, window, 12*8, res)
	}
}

// TestNewClientRejectsSizes: the header must fit, and a reply longer than
// the receive buffer could not be checked.
func TestNewClientRejectsSizes(t *testing.T) {
	addr := netip.MustParseAddrPort("127.0.0.1:9")
	for _, size := range []int{0, headerSize - 1, maxReplyLen + 1} {
		if cl, err := newClient(ClientConfig{Addr: addr, Clients: 1, InFlight: 1, Size: size}); err == nil {
			cl.close()
			t.Errorf("size %d accepted", size)
		}
	}
	if cl, err := newClient(ClientConfig{Addr: netip.MustParseAddrPort("[::1]:9"), Clients: 1, InFlight: 1, Size: 64}); err == nil {
		cl.close()
		t.Error("an IPv6 server accepted")
	}
}
