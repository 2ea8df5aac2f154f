package ioloop

import "golang.org/x/sys/unix"

// reusePortOption is the socket option behind ListenOptions.ReusePort.
// FreeBSD's SO_REUSEPORT lets sockets share an address but hands every
// connection to one of them; SO_REUSEPORT_LB (FreeBSD 12) balances, which
// is what ReusePort promises.
const reusePortOption = unix.SO_REUSEPORT_LB
