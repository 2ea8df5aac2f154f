//go:build !windows && !linux && !freebsd && !netbsd && !dragonfly && !darwin

package conn

import "errors"

// setKeepAliveTimes: OpenBSD sets keepalive times system-wide only
// (sysctl net.inet.tcp.keepidle), so asking for them per socket fails.
func setKeepAliveTimes(fd, idleSeconds, intervalSeconds, count int) error {
	if idleSeconds > 0 || intervalSeconds > 0 || count > 0 {
		return errors.ErrUnsupported
	}
	return nil
}
