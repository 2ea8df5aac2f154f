//go:build !windows && (linux || freebsd || netbsd || dragonfly)

package conn

import "golang.org/x/sys/unix"

// setKeepAliveTimes sets TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT;
// zero values are left alone.
func setKeepAliveTimes(fd, idleSeconds, intervalSeconds, count int) error {
	for _, o := range [...]struct{ name, value int }{
		{unix.TCP_KEEPIDLE, idleSeconds}, {unix.TCP_KEEPINTVL, intervalSeconds}, {unix.TCP_KEEPCNT, count},
	} {
		if o.value > 0 {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, o.name, o.value); err != nil {
				return err
			}
		}
	}
	return nil
}
