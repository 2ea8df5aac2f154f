package ioloop

import "golang.org/x/sys/unix"

// abstractUnixNamespace: Linux has unix socket addresses outside the file
// system, which this package spells with a leading '@'.
const abstractUnixNamespace = true

// setSockaddrLen records a sockaddr's length inside it where the system
// wants that; Linux sockaddrs carry no length field.
func setSockaddrLen(*unix.RawSockaddrAny, uint32) {}
