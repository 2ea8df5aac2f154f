// Package netconn adapts an ioloop.Loop to the standard library's
// net.Conn and net.Listener, for code that needs those interfaces:
// crypto/tls, net/http, gRPC.
package netconn
