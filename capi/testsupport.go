//go:build linux

package main

/*
#include "ioloop_impl.h"

typedef struct test_state test_state;
test_state *ioloop__test_new(int backend);
int ioloop__test_failures(test_state *t);
void ioloop__test_free(test_state *t);
int ioloop__test_round_nop(test_state *t);
int ioloop__test_round_timers(test_state *t);
int ioloop__test_round_io(test_state *t);
int ioloop__test_round_post(test_state *t);
int ioloop__test_round_msg(test_state *t);
int ioloop__test_round_chain(test_state *t);
int ioloop__test_round_pooled(test_state *t);
*/
import "C"

// testLoop wraps testsupport.c's state for capi_test.go, which cannot use
// cgo itself.
type testLoop struct{ t *C.test_state }

// newTestLoop creates a loop on backend (C.IOLOOP_BACKEND_*), or nil when
// the machine cannot set that backend up.
func newTestLoop(backend int) *testLoop {
	t := C.ioloop__test_new(C.int(backend))
	if t == nil {
		return nil
	}
	return &testLoop{t}
}

func (tl *testLoop) failures() int { return int(C.ioloop__test_failures(tl.t)) }
func (tl *testLoop) free()         { C.ioloop__test_free(tl.t) }

// The rounds of testsupport.c; each returns the run's result code.
func (tl *testLoop) roundNop() int    { return int(C.ioloop__test_round_nop(tl.t)) }
func (tl *testLoop) roundTimers() int { return int(C.ioloop__test_round_timers(tl.t)) }
func (tl *testLoop) roundIO() int     { return int(C.ioloop__test_round_io(tl.t)) }
func (tl *testLoop) roundPost() int   { return int(C.ioloop__test_round_post(tl.t)) }
func (tl *testLoop) roundMsg() int    { return int(C.ioloop__test_round_msg(tl.t)) }
func (tl *testLoop) roundChain() int  { return int(C.ioloop__test_round_chain(tl.t)) }
func (tl *testLoop) roundPooled() int { return int(C.ioloop__test_round_pooled(tl.t)) }

// Backends for the tests.
const (
	testIOUring = C.IOLOOP_BACKEND_IO_URING
	testEpoll   = C.IOLOOP_BACKEND_EPOLL
)
