package ioloop

import (
	"errors"
	"syscall"
	"testing"
)

// scriptedBackend accepts submissions and lets a test deliver kernel
// results in an order of its choosing, so that orderings the real kernel
// does not let a test pick can be checked deterministically.
type scriptedBackend struct {
	kernelClock
	kernelSockets
	noDoorbells
	emulatedChains
	loop        *Loop
	resubmitted int
}

func (b *scriptedBackend) submit(c *Completion) {
	b.loop.issueToken(c)
	c.state = stateInFlight
}
func (b *scriptedBackend) resubmit(c *Completion)        { b.resubmitted++; c.state = stateInFlight }
func (b *scriptedBackend) unqueue(*Completion) bool      { return false }
func (b *scriptedBackend) abandon(*Completion) errorCode { return codeNotFound }
func (b *scriptedBackend) flush()                        {}
func (b *scriptedBackend) poll(int64) error              { return nil }
func (b *scriptedBackend) cancelAll()                    {}
func (b *scriptedBackend) close() error                  { return nil }

type sendCancelResults struct {
	sendN, sendCalls int
	sendErr          error
	cancelErr        error
	cancelCalls      int
}

func (r *sendCancelResults) onSend(_ *Completion, n int, err error) {
	r.sendN, r.sendErr = n, err
	r.sendCalls++
}

func (r *sendCancelResults) onCancel(_ *Completion, err error) {
	r.cancelErr = err
	r.cancelCalls++
}

// TestCancelPartialSendEitherOrder delivers the short result of a canceled
// Send and the Cancel's own result in both orders: the outcome must not
// depend on which the kernel posts first.
func TestCancelPartialSendEitherOrder(t *testing.T) {
	const sizeBytes, sentBytes = 1000, 300
	for _, tc := range []struct {
		name           string
		sendFirst      bool
		cancelRes      int32 // 0: canceled; -ENOENT: the Cancel found nothing
		wantResubmits  int
		wantSendErr    error
		wantCancelErr  error
		finalSendBytes int32 // delivered after a resubmission
	}{
		{name: "send first, canceled", sendFirst: true, cancelRes: 0, wantSendErr: ErrCanceled},
		{name: "cancel first, canceled", sendFirst: false, cancelRes: 0, wantSendErr: ErrCanceled},
		{name: "send first, not found", sendFirst: true, cancelRes: -int32(syscall.ENOENT),
			wantResubmits: 1, wantCancelErr: ErrNotFound, finalSendBytes: sizeBytes - sentBytes},
		{name: "cancel first, not found", sendFirst: false, cancelRes: -int32(syscall.ENOENT),
			wantResubmits: 1, wantCancelErr: ErrNotFound, finalSendBytes: sizeBytes - sentBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &Loop{}
			l.inflight.init(4)
			b := &scriptedBackend{kernelClock: newKernelClock(), loop: l}
			l.backend = b

			var send, cancel Completion
			r := &sendCancelResults{}
			Send(l, &send, 3, make([]byte, sizeBytes), r, (*sendCancelResults).onSend)
			Cancel(l, &cancel, &send, r, (*sendCancelResults).onCancel)
			if send.send.cancelsInFlight != 1 {
				t.Fatalf("cancelsInFlight = %d, want 1", send.send.cancelsInFlight)
			}
			if tc.sendFirst {
				l.complete(&send, sentBytes)
				if !send.send.parked || send.state != stateInFlight {
					t.Fatalf("short Send with a Cancel outstanding: parked=%v state=%v, want parked and in flight",
						send.send.parked, send.state)
				}
				l.complete(&cancel, tc.cancelRes)
			} else {
				l.complete(&cancel, tc.cancelRes)
				l.complete(&send, sentBytes)
			}
			if b.resubmitted != tc.wantResubmits {
				t.Fatalf("Send resubmitted %d times, want %d", b.resubmitted, tc.wantResubmits)
			}
			if tc.finalSendBytes > 0 {
				l.complete(&send, tc.finalSendBytes)
			}
			l.runCompleted()
			if r.sendCalls != 1 || r.cancelCalls != 1 {
				t.Fatalf("callbacks: Send %d, Cancel %d; want 1 each", r.sendCalls, r.cancelCalls)
			}
			if !errors.Is(r.sendErr, tc.wantSendErr) || (tc.wantSendErr == nil && r.sendErr != nil) {
				t.Fatalf("Send err = %v, want %v", r.sendErr, tc.wantSendErr)
			}
			if r.cancelErr != tc.wantCancelErr {
				t.Fatalf("Cancel err = %v, want %v", r.cancelErr, tc.wantCancelErr)
			}
			wantN := sentBytes
			if tc.wantSendErr == nil {
				wantN = sizeBytes
			}
			if r.sendN != wantN {
				t.Fatalf("Send n = %d, want %d", r.sendN, wantN)
			}
			if l.pending != 0 || l.inflight.count != 0 {
				t.Fatalf("after both callbacks: %d pending, %d in flight", l.pending, l.inflight.count)
			}
		})
	}
}
