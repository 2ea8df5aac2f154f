package main

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/windows"
)

// probeKernel describes the running Windows (RtlGetVersion: the true
// version, which GetVersionEx hides from unmanifested programs).
func probeKernel() (kernelInfo, error) {
	v := windows.RtlGetVersion()
	return kernelInfo{
		Release: fmt.Sprintf("%d.%d.%d", v.MajorVersion, v.MinorVersion, v.BuildNumber),
		Version: "Windows",
		Machine: runtime.GOARCH,
	}, nil
}

// platformLimits lists what the IOCP backend does not support, for ioloop
// info (docs/ARCHITECTURE.md, "Windows").
var platformLimits = []string{
	"no unix sockets (ConnectUnix: EAFNOSUPPORT), no ReusePort (EOPNOTSUPP)",
	"no control data on SendMsg/RecvMsg (EOPNOTSUPP)",
	"Fallocate: no COLLAPSE_RANGE or INSERT_RANGE; Fadvise checks and ignores its advice; RenameExchange: ENOTSUP",
	"no Statx, SyncFileRange (Linux-only API); offset -1 is the loop's position",
	"pooled datagram receives (RecvFromMultishot) take their buffer at submission",
	"synchronous handles (pipes, console, os.Open's files): reads and writes on worker threads, pipes and sockets 64 KiB at a time; Accept, Connect, pooled and datagram operations need overlapped sockets (EINVAL)",
}
