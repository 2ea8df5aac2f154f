package ioloop

import (
	"errors"
	"net/netip"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// finalOnly records the final callback of a pooled or multishot operation
// given a descriptor it cannot use: no shot may come first.
type finalOnly struct {
	finals, shots int
	err           error
}

func (f *finalOnly) onBuf(_ *Completion, buf []byte, err error) { f.note(buf != nil, err) }
func (f *finalOnly) onFrom(_ *Completion, buf []byte, _ netip.AddrPort, err error) {
	f.note(buf != nil, err)
}
func (f *finalOnly) onFD(_ *Completion, fd int, err error) { f.note(fd >= 0, err) }

func (f *finalOnly) note(delivered bool, err error) {
	if err == nil || delivered {
		f.shots++
		return
	}
	f.finals++
	f.err = err
}

// TestPooledOperationsOnBadDescriptors: RecvPooled, RecvMultishot,
// RecvFromMultishot and AcceptMultishot on a huge descriptor number, on a
// closed one and on a negative one each end with exactly one EBADF, take
// no memory that follows the number, and give every buffer back (on the
// backends that take one at submission, too).
func TestPooledOperationsOnBadDescriptors(t *testing.T) {
	forPoolBackends(t, func(t *testing.T, l *Loop) {
		pool := newTestPool(t, l, 2, 128)
		closed, _ := listenUDP(t, l, loopback4)
		if err := closeFD(t, l, closed); err != nil {
			t.Fatal(err)
		}
		for _, fd := range []int{1 << 24, 1<<31 - 1, closed, -1} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var c [4]Completion
			var rs [4]finalOnly
			RecvPooled(l, &c[0], fd, pool, &rs[0], (*finalOnly).onBuf)
			RecvMultishot(l, &c[1], fd, pool, &rs[1], (*finalOnly).onBuf)
			RecvFromMultishot(l, &c[2], fd, pool, &rs[2], (*finalOnly).onFrom)
			AcceptMultishot(l, &c[3], fd, &rs[3], (*finalOnly).onFD)
			runUntil(t, l, waitLimit, func() bool {
				for i := range rs {
					if rs[i].finals == 0 {
						return false
					}
				}
				return true
			})
			if err := l.Tick(); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			for i, name := range []string{"RecvPooled", "RecvMultishot", "RecvFromMultishot", "AcceptMultishot"} {
				r := &rs[i]
				if r.finals != 1 || r.shots != 0 || !errors.Is(r.err, syscall.EBADF) {
					t.Errorf("%s on fd %s: %d finals (%v), %d shots; want one EBADF and nothing else", name, strconv.Itoa(fd), r.finals, r.err, r.shots)
				}
			}
			if pool.Free() != pool.Count() {
				t.Fatalf("fd %d: %d of %d buffers free after every operation ended", fd, pool.Free(), pool.Count())
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Fatalf("operations on fd %d allocated %d bytes; memory must follow the descriptors in use", fd, grew)
			}
		}
	})
}
