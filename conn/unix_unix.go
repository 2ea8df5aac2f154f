//go:build !windows

package conn

import (
	"os"
	"runtime"

	"github.com/ioloop/ioloop"
)

func listenUnix(path string, backlog int) (int, error) { return ioloop.ListenUnix(path, backlog) }

func unixSocket() (int, error) { return ioloop.UnixSocket() }

// removeUnixSocket removes a closed listener's socket file (on Linux, not an
// abstract name, which has none).
func removeUnixSocket(path string) {
	if path[0] != '@' || runtime.GOOS != "linux" {
		_ = os.Remove(path)
	}
}
