package ioloop

import "syscall"

// errnoTimerExpired is how io_uring completes an IORING_OP_TIMEOUT whose
// time ran out: -ETIME, which for a Timeout is success.
const errnoTimerExpired = syscall.ETIME
