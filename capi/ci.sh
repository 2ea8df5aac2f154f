#!/bin/sh
# capi/ci.sh: builds libioloop (c-shared and c-archive), builds and runs the
# C examples and the C test program (also linked statically, under
# AddressSanitizer and UBSan, and against a library built with cgocheck2),
# checks cat and the echo server end to end,
# runs the Go allocation test of package capi and the Python ctypes test.
# Needs go, a C compiler (cc) with ASan, make and python3: installs nothing.
# Exits nonzero on the first failure. About a minute and a half on the 2-vCPU machine.
#
#     sh capi/ci.sh        (from the repository root, or from anywhere)
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
C=examples/c
step() { printf '\n== %s\n' "$*"; }

step "go vet and test ./capi (zero allocations per operation)"
go vet ./capi
go test -count=1 ./capi

step "build the library and the C programs; the C test: shared, static, ASan+UBSan"
make -C $C clean >/dev/null
timeout 240 make -C $C all check

step "the C test against a library built with GOEXPERIMENT=cgocheck2 (every Go pointer stored in C memory must be pinned)"
cc2=$(mktemp -d)
GOEXPERIMENT=cgocheck2 go build -buildmode=c-shared -o "$cc2/libioloop.so" ./capi
cc -I capi -O1 -g -o "$cc2/test" $C/test.c -L"$cc2" -lioloop -Wl,-rpath,"$cc2"
timeout 240 "$cc2/test"
rm -rf "$cc2"

step "cat at queue depth 16 reproduces files"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${echo_pid:-}" ] && kill "$echo_pid" 2>/dev/null || true' EXIT
head -c 5000000 /dev/urandom >"$tmp/big"
: >"$tmp/empty"
$C/cat "$tmp/big" | cmp - "$tmp/big"
$C/cat -bs 4096 "$tmp/big" "$tmp/empty" README.md | cmp - "$(cat "$tmp/big" "$tmp/empty" README.md >"$tmp/all"; echo "$tmp/all")"
if $C/cat "$tmp/missing" >/dev/null 2>&1; then echo "cat of a missing file succeeded" >&2; exit 1; fi

step "echo server answers (io_uring when available, and epoll)"
for backend in auto epoll; do
	$C/echo -addr 127.0.0.1:0 -backend $backend >"$tmp/echo.out" 2>"$tmp/echo.err" &
	echo_pid=$!
	for _ in $(seq 50); do [ -s "$tmp/echo.out" ] && break; sleep 0.1; done
	cat "$tmp/echo.out"
	addr=$(awk '{print $3}' "$tmp/echo.out")
	timeout 60 python3 - "$addr" <<'PY'
import os, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
conns = [socket.create_connection((host, int(port)), timeout=10) for _ in range(100)]
for rnd in range(10):
    msgs = [os.urandom(64) for _ in conns]
    for s, m in zip(conns, msgs):
        s.sendall(m)
    for s, m in zip(conns, msgs):
        got = b""
        while len(got) < len(m):
            chunk = s.recv(len(m) - len(got))
            assert chunk, "closed early"
            got += chunk
        assert got == m, "wrong echo"
print("echo ok: 100 connections x 10 messages")
PY
	kill "$echo_pid"
	wait "$echo_pid" 2>/dev/null || true
	echo_pid=
done

step "Python ctypes: echo server and test (system python3)"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
IOLOOP_LIB="$ROOT/$C/libioloop.so" timeout 120 $PY examples/python/test_echo.py

printf '\ncapi/ci.sh: PASS\n'
