package ioloop

import "testing"

// The conformance tests that cannot run on Windows, each skipped with its
// reason, so that `go test -v` under wine names every case the suite has
// and why it does not run there (the tests themselves are in *_linux_test.go
// and *_unix_test.go files; docs/ARCHITECTURE.md, "Windows", counts them).

const (
	linuxOnlyStatx      = "Statx is Linux-only API (statx(2) and struct statx are Linux's; ops_statx_linux.go)"
	linuxOnlySyncRange  = "SyncFileRange is Linux-only API (sync_file_range(2))"
	noUnixSockets       = "unix-domain sockets: the IOCP backend does not implement them (ConnectUnix is EAFNOSUPPORT), and wine 8.0 has no AF_UNIX (socket() fails with WSAEAFNOSUPPORT)"
	noUnixSignals       = "Unix signals: nothing on Windows interrupts GetQueuedCompletionStatusEx with EINTR"
	linuxOnlyMechanism  = "a Linux-only mechanism"
	noDirectlessVolumes = "needs a file system that refuses direct I/O: none does under wine, and no local Windows file system is known to refuse FILE_FLAG_NO_BUFFERING"
)

func TestAllocsStatx(t *testing.T)            { t.Skip(linuxOnlyStatx) }
func TestStatx(t *testing.T)                  { t.Skip(linuxOnlyStatx) }
func TestStatxNilBufferPanics(t *testing.T)   { t.Skip(linuxOnlyStatx) }
func TestEdgeStatxNameTooLong(t *testing.T)   { t.Skip(linuxOnlyStatx) }
func TestFileopsSyncFileRange(t *testing.T)   { t.Skip(linuxOnlySyncRange) }
func TestConnectUnix(t *testing.T)            { t.Skip(noUnixSockets) }
func TestConnectUnixErrors(t *testing.T)      { t.Skip(noUnixSockets) }
func TestConnectUnixLongestPath(t *testing.T) { t.Skip(noUnixSockets) }
func TestSendZCUnixSocket(t *testing.T)       { t.Skip(noUnixSockets) }
func TestUDPRecvMsgRights(t *testing.T)       { t.Skip(noUnixSockets + "; SCM_RIGHTS is Unix's") }
func TestEINTRDuringWait(t *testing.T)        { t.Skip(noUnixSignals) }
func TestEdgeFileSizeLimit(t *testing.T) {
	t.Skip(linuxOnlyMechanism + ": RLIMIT_FSIZE and SIGXFSZ")
}
func TestDurableFlagsReachKernel(t *testing.T) {
	t.Skip(linuxOnlyMechanism + ": it reads io_uring's RWF_DSYNC flags off the ring")
}
func TestOpenDirectFallback(t *testing.T) { t.Skip(noDirectlessVolumes) }
