#!/usr/bin/env bash
# bench/run_readiness_targets.sh - baselines for the readiness backends
# (epoll on Linux), against what a Go program without ioloop would do:
#
#   (a) echo:  server CPU per message, 1000 connections x 64-byte ping-pong:
#              `ioloop echo` on the readiness backend  vs  Go's net package
#              (goroutine per connection, `ioloop echo -server gonet`), and
#              ioloop on io_uring for reference. `ioloop bench echo -server`
#              starts each server in a child process pinned to the first CPU,
#              pins itself (the load generator, on io_uring) to the second,
#              reads the server's CPU time from /proc/<pid>/stat and counts
#              its system calls with perf over exactly its measured window.
#   (b) read:  random 4 KiB O_DIRECT reads at queue depth 64 on a 1 GiB file:
#              ioloop on the readiness backend (file operations on its worker
#              pool, -workers)  vs  os.File.ReadAt from 64 goroutines
#              (`ioloop bench read -engine readat`), and ioloop on io_uring
#              for reference. CPU per read is each process's getrusage.
#
# Each comparison runs IOLOOP_REPS times, interleaved (readiness backend,
# Go baseline, io_uring, then again), because these machines are shared and
# noisy: the ratio of runs made back to back is more trustworthy than either
# number. It prints every raw result line, then medians and per-rep ratios.
# It states no targets: it measures where the readiness backend stands.
#
# Environment overrides (defaults in brackets):
#   IOLOOP_REPS               repetitions of each comparison           [3]
#   IOLOOP_READINESS_BACKEND  the backend under test                   [epoll]
#   IOLOOP_BENCH_FILE         1 GiB test file, created if absent       [/tmp/ioloop-bench.dat]
#   IOLOOP_BENCH_RUNTIME      seconds measured per run                 [5]
#   IOLOOP_BENCH_QD           read queue depth                         [64]
#   IOLOOP_FILE_WORKERS       -workers of the readiness backend        [64]
#   IOLOOP_ECHO_CONNS         echo connections                         [1000]
#   IOLOOP_ECHO_SIZE          echo message size in bytes               [64]
#
# Default total runtime: about 2 minutes. Needs 2 CPUs, root or
# perf_event_paranoid <= -1 for the syscall tracepoint (without it the
# syscall rows are missing, with a note), and a filesystem with O_DIRECT
# (not tmpfs) for the test file.
set -euo pipefail

REPS=${IOLOOP_REPS:-3}
BACKEND=${IOLOOP_READINESS_BACKEND:-epoll}
BENCH_FILE=${IOLOOP_BENCH_FILE:-/tmp/ioloop-bench.dat}
RUNTIME=${IOLOOP_BENCH_RUNTIME:-5}
QD=${IOLOOP_BENCH_QD:-64}
WORKERS=${IOLOOP_FILE_WORKERS:-64}
ECHO_CONNS=${IOLOOP_ECHO_CONNS:-1000}
ECHO_SIZE=${IOLOOP_ECHO_SIZE:-64}
BS=4096
FILE_MIB=1024
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "run_readiness_targets.sh: $*" >&2; exit 1; }

for v in REPS RUNTIME QD ECHO_CONNS ECHO_SIZE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ $WORKERS =~ ^[0-9]+$ ]] || die "IOLOOP_FILE_WORKERS must be a non-negative integer, got '$WORKERS'"
case $BACKEND in
epoll | kqueue) ;;
*) die "IOLOOP_READINESS_BACKEND must be epoll or kqueue, got '$BACKEND'" ;;
esac
(($(nproc) >= 2)) || die "needs 2 CPUs to pin the echo server and the load generator apart, have $(nproc)"

# Install missing tools; apt-get runs only when something is missing.
missing=()
command -v python3 >/dev/null || missing+=(python3)
command -v perf >/dev/null || missing+=(linux-perf)
if ((${#missing[@]})) && command -v apt-get >/dev/null; then
	SUDO=
	[[ $(id -u) -eq 0 ]] || SUDO=sudo
	echo "# installing: ${missing[*]}" >&2
	$SUDO apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v python3 >/dev/null || die "needs python3"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
IOLOOP=$WORK/ioloop
(cd "$REPO" && go build -o "$IOLOOP" ./cmd/ioloop)

# Fail early, with the library's reason, when the backend cannot run here.
"$IOLOOP" info -backend "$BACKEND" -json >"$WORK/info.json"
python3 - "$WORK/info.json" "$BACKEND" <<'EOF'
import json, sys
loop = json.load(open(sys.argv[1]))["loop"]
if not loop["ok"]:
    sys.exit(f"run_readiness_targets.sh: the {sys.argv[2]} backend does not work here: {loop['error']}")
EOF

source "$REPO/bench/lib.sh"
ensure_bench_file "$BENCH_FILE" "$FILE_MIB"

RESULTS=$WORK/results.txt
: >"$RESULTS"
# measure REP COMMAND...: run one benchmark, print its result line and keep
# it, tagged with its rep. A failed run ends the script.
measure() {
	local line
	line=$("${@:2}") || exit 1
	echo "$line"
	echo "rep=$1 $line" >>"$RESULTS"
}

commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=
git -C "$REPO" diff --quiet HEAD -- 2>/dev/null || dirty=+dirty
echo "# date=$(date -u +%Y-%m-%dT%H:%M:%SZ) commit=$commit$dirty kernel=$(uname -r) cpus=$(nproc) go=$(go env GOVERSION)"
echo "# backend=$BACKEND workers=$WORKERS reps=$REPS runtime=${RUNTIME}s perf=$(perf --version 2>/dev/null || echo none)"

echo_run() { # echo_run -server ... : one measured echo run
	"$IOLOOP" bench echo "$@" -conns "$ECHO_CONNS" -size "$ECHO_SIZE" -warmup 1s -duration "${RUNTIME}s" 2>"$WORK/echo.err" ||
		die "bench echo $* failed: $(cat "$WORK/echo.err")"
	grep -v '^# \(connected\|measuring\)' "$WORK/echo.err" >&2 || true
}
read_run() { # read_run -engine ... : one measured read run
	"$IOLOOP" bench read "$@" -file "$BENCH_FILE" -qd "$QD" -bs $BS -direct -duration "${RUNTIME}s"
}
for rep in $(seq "$REPS"); do
	measure "$rep" echo_run -server ioloop -server-backend "$BACKEND"
	measure "$rep" echo_run -server gonet
	measure "$rep" echo_run -server ioloop -server-backend io_uring
done
for rep in $(seq "$REPS"); do
	measure "$rep" read_run -engine ioloop -backend "$BACKEND" -workers "$WORKERS"
	measure "$rep" read_run -engine readat
	measure "$rep" read_run -engine ioloop -backend io_uring
done

# Summary: medians over the reps, and ratios taken within each rep.
python3 - "$RESULTS" "$BACKEND" <<'EOF'
import statistics, sys

path, backend = sys.argv[1], sys.argv[2]

def label(f):
    if f["name"] == "echo_server":
        return "echo " + (f["server_backend"] if f["server"] == "ioloop" else "gonet")
    if f["name"] == "ioloop_read":
        return "read " + f["backend"]
    return "read readat"

runs = {}  # (rep, label) -> fields
for line in open(path):
    fields = dict(kv.split("=", 1) for kv in line.split())
    runs[(fields["rep"], label(fields))] = fields
reps = sorted({rep for rep, _ in runs}, key=int)

def values(lbl, key):
    vals = [runs[(r, lbl)].get(key) for r in reps]
    return None if None in vals else [float(v) for v in vals]

def ratios(num, den, key):
    a, b = values(num, key), values(den, key)
    return None if a is None or b is None else [x / y for x, y in zip(a, b)]

def fmt(v):
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3f}"

def row(text, vals):
    if vals is None:
        print(f"{text:<44} (not measured: see the notes above)")
        return
    each = " ".join(fmt(v) for v in vals)
    print(f"{text:<44} median={fmt(statistics.median(vals)):<10} runs=[{each}]")

B = backend
print()
print("# medians over", len(reps), "interleaved runs; ratios are taken within each rep")
for lbl in (f"echo {B}", "echo gonet", "echo io_uring"):
    row(f"(a) {lbl} server cpu_us_per_msg", values(lbl, "cpu_us_per_msg"))
row(f"(a) server CPU/msg ratio {B}/gonet", ratios(f"echo {B}", "echo gonet", "cpu_us_per_msg"))
row("(a) server CPU/msg ratio io_uring/gonet", ratios("echo io_uring", "echo gonet", "cpu_us_per_msg"))
for lbl in (f"echo {B}", "echo gonet", "echo io_uring"):
    row(f"(a) {lbl} msgs_per_sec", values(lbl, "msgs_per_sec"))
row(f"(a) msgs/s ratio {B}/gonet", ratios(f"echo {B}", "echo gonet", "msgs_per_sec"))
for lbl in (f"echo {B}", "echo gonet", "echo io_uring"):
    row(f"(a) {lbl} syscalls_per_msg", values(lbl, "syscalls_per_msg"))
for lbl in (f"echo {B}", "echo gonet", "echo io_uring"):
    row(f"(a) {lbl} server_cpu_util", values(lbl, "server_cpu_util"))
    row(f"(a) {lbl} client_cpu_util", values(lbl, "client_cpu_util"))
for lbl in (f"read {B}", "read readat", "read io_uring"):
    row(f"(b) {lbl} ops_per_sec", values(lbl, "ops_per_sec"))
row(f"(b) IOPS ratio {B}/readat", ratios(f"read {B}", "read readat", "ops_per_sec"))
row("(b) IOPS ratio io_uring/readat", ratios("read io_uring", "read readat", "ops_per_sec"))
for lbl in (f"read {B}", "read readat", "read io_uring"):
    row(f"(b) {lbl} cpu_us_per_op", values(lbl, "cpu_us_per_op"))
row(f"(b) CPU/IO ratio {B}/readat", ratios(f"read {B}", "read readat", "cpu_us_per_op"))
row("(b) CPU/IO ratio io_uring/readat", ratios("read io_uring", "read readat", "cpu_us_per_op"))
EOF
