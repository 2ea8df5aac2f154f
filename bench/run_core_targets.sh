#!/usr/bin/env bash
# bench/run_core_targets.sh - measure ioloop against the core performance
# targets, end to end, on this machine:
#
#   (a) NOP dispatch:  ioloop bench nop  vs  bench/c/nop_liburing.c    target ops/s >= 0.8x C
#                      and vs bench/c/nop_dispatch.c (the same callback design
#                      in C: separates the cost of the design from that of Go)
#   (b) random read:   ioloop bench read vs  fio io_uring randread      targets IOPS >= 0.9x fio,
#                                                                       CPU/IO <= 1.3x fio
#   (c) echo:          ioloop bench echo -server ioloop: `ioloop echo` on io_uring in a
#                      child pinned to CPU 0, the load generator on CPU 1, the
#                      server's syscalls counted by perf over the measured window
#                                                                       target <= 0.35 syscalls/msg
#
# Each comparison runs IOLOOP_REPS times, interleaved (ioloop, baseline,
# ioloop, baseline, ...), because these machines are shared and noisy: the
# ratio of a pair run back to back is more trustworthy than either number.
# It prints every raw result line, then per-pair ratios and their medians.
#
# Environment overrides (defaults in brackets):
#   IOLOOP_REPS          repetitions of each comparison          [3]
#   IOLOOP_NOP_COUNT     NOPs per run                            [10000000]
#   IOLOOP_NOP_BATCH     NOPs in flight                          [128]
#   IOLOOP_BENCH_FILE    1 GiB test file, created if absent      [/tmp/ioloop-bench.dat]
#   IOLOOP_BENCH_RUNTIME read runtime in seconds                 [5]
#   IOLOOP_BENCH_QD      read queue depth                        [64]
#   IOLOOP_ECHO_CONNS    echo connections                        [1000]
#   IOLOOP_ECHO_SIZE     echo message size in bytes              [64]
#   IOLOOP_PERF_SECONDS  echo measuring (and syscall-counting) window [5]
#
# Default total runtime: about 2 minutes. Needs 2 CPUs, root or
# perf_event_paranoid <= -1 for the syscall tracepoint, and a filesystem
# with O_DIRECT (not tmpfs) for the test file.
set -euo pipefail

REPS=${IOLOOP_REPS:-3}
NOP_COUNT=${IOLOOP_NOP_COUNT:-10000000}
NOP_BATCH=${IOLOOP_NOP_BATCH:-128}
BENCH_FILE=${IOLOOP_BENCH_FILE:-/tmp/ioloop-bench.dat}
RUNTIME=${IOLOOP_BENCH_RUNTIME:-5}
QD=${IOLOOP_BENCH_QD:-64}
ECHO_CONNS=${IOLOOP_ECHO_CONNS:-1000}
ECHO_SIZE=${IOLOOP_ECHO_SIZE:-64}
PERF_SECONDS=${IOLOOP_PERF_SECONDS:-5}
BS=4096
FILE_MIB=1024
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "run_core_targets.sh: $*" >&2; exit 1; }

for v in REPS NOP_COUNT NOP_BATCH RUNTIME QD ECHO_CONNS ECHO_SIZE PERF_SECONDS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
(($(nproc) >= 2)) || die "needs 2 CPUs to pin the echo server and client apart, have $(nproc)"

# Install missing tools; apt-get runs only when something is missing.
missing=()
command -v gcc >/dev/null || missing+=(gcc)
command -v fio >/dev/null || missing+=(fio)
command -v python3 >/dev/null || missing+=(python3)
command -v perf >/dev/null || missing+=(linux-perf)
[[ -f /usr/include/liburing.h ]] || missing+=(liburing-dev)
if ((${#missing[@]})); then
	SUDO=
	[[ $(id -u) -eq 0 ]] || SUDO=sudo
	echo "# installing: ${missing[*]}" >&2
	$SUDO apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

IOLOOP=$WORK/ioloop
(cd "$REPO" && go build -o "$IOLOOP" ./cmd/ioloop)
gcc -O2 -Wall -o "$WORK/nop_liburing" "$REPO/bench/c/nop_liburing.c" -luring
gcc -O2 -Wall -o "$WORK/nop_dispatch" "$REPO/bench/c/nop_dispatch.c" -luring

source "$REPO/bench/lib.sh"
ensure_bench_file "$BENCH_FILE" "$FILE_MIB"

RESULTS=$WORK/results.txt
: >"$RESULTS"
# record RUN LINE: print a result line and keep it, tagged with its pair.
record() {
	echo "$2"
	echo "rep=$1 $2" >>"$RESULTS"
}

commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=
git -C "$REPO" diff --quiet HEAD -- 2>/dev/null || dirty=+dirty
echo "# date=$(date -u +%Y-%m-%dT%H:%M:%SZ) commit=$commit$dirty kernel=$(uname -r) cpus=$(nproc) go=$(go env GOVERSION)"
echo "# fio=$(fio --version) liburing=$(dpkg-query -W -f='${Version}' liburing-dev 2>/dev/null || echo unknown) reps=$REPS"

# (a) NOP dispatch rate.
for rep in $(seq "$REPS"); do
	record "$rep" "$("$IOLOOP" bench nop -batch "$NOP_BATCH" -count "$NOP_COUNT")"
	record "$rep" "$("$WORK/nop_liburing" -batch "$NOP_BATCH" -count "$NOP_COUNT")"
	record "$rep" "$("$WORK/nop_dispatch" -batch "$NOP_BATCH" -count "$NOP_COUNT")"
done

# (b) 4 KiB random O_DIRECT reads; fio's CPU is its own usr+sys over its
# runtime, ours is getrusage over ours: both are the whole process.
fio_line() {
	fio --name=randread --filename="$BENCH_FILE" --ioengine=io_uring --direct=1 \
		--rw=randread --bs=$BS --iodepth="$QD" --runtime="$RUNTIME" --time_based \
		--numjobs=1 --group_reporting --output-format=json \
		--output="$WORK/fio.json" >/dev/null
	python3 - "$WORK/fio.json" "$QD" "$BS" <<'EOF'
import json, sys

path, qd, bs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path) as f:
    job = json.load(f)["jobs"][0]
if job.get("error"):
    sys.exit(f"fio job error {job['error']}")
rd = job["read"]
ios, runtime_s = rd["total_ios"], rd["runtime"] / 1000.0
if ios <= 0 or runtime_s <= 0:
    sys.exit(f"fio did no I/O (total_ios={ios}, runtime={runtime_s}s)")
cpu_s = (job["usr_cpu"] + job["sys_cpu"]) / 100.0 * runtime_s
print(f"name=fio_io_uring_randread qd={qd} bs={bs} "
      f"ops_per_sec={rd['iops']:.0f} cpu_us_per_op={cpu_s * 1e6 / ios:.3f}")
EOF
}
for rep in $(seq "$REPS"); do
	record "$rep" "$("$IOLOOP" bench read -file "$BENCH_FILE" -qd "$QD" -bs $BS -direct -duration "${RUNTIME}s")"
	record "$rep" "$(fio_line)"
done

# (c) Echo: `bench echo -server ioloop` starts `ioloop echo` in a child
# process pinned to the first CPU, pins itself to the second, and has perf
# count the server's system calls over exactly the window in which it
# counts messages (perf stat --control; see cmd/ioloop/perf.go).
for rep in $(seq "$REPS"); do
	line=$("$IOLOOP" bench echo -server ioloop -server-backend io_uring -conns "$ECHO_CONNS" -size "$ECHO_SIZE" \
		-warmup 1s -duration "${PERF_SECONDS}s")
	[[ $line == *syscalls_per_msg=* ]] || die "perf did not count the echo server's system calls (see the note above)"
	record "$rep" "$line"
done

# Summary: per-pair ratios and the median of each quantity over the reps.
python3 - "$RESULTS" <<'EOF'
import statistics, sys

runs = {}  # (rep, name) -> fields
for line in open(sys.argv[1]):
    fields = dict(kv.split("=", 1) for kv in line.split())
    runs[(fields["rep"], fields["name"])] = fields
reps = sorted({rep for rep, _ in runs}, key=int)

def values(name, key):
    return [float(runs[(r, name)][key]) for r in reps]

def ratios(num, den, key):
    return [a / b for a, b in zip(values(num, key), values(den, key))]

def num(v):
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3f}"

def row(label, vals, target=None, higher_is_better=True):
    med = statistics.median(vals)
    verdict = ""
    if target is not None:
        ok = med >= target if higher_is_better else med <= target
        verdict = f"  target {'>=' if higher_is_better else '<='} {target}: {'MET' if ok else 'MISSED'}"
    each = " ".join(num(v) for v in vals)
    print(f"{label:<36} median={num(med):<10} runs=[{each}]{verdict}")

print()
print("# medians over", len(reps), "interleaved runs; ratios are taken within each pair")
row("(a) ioloop_nop ops_per_sec", values("ioloop_nop", "ops_per_sec"))
row("(a) c_liburing_nop ops_per_sec", values("c_liburing_nop", "ops_per_sec"))
row("(a) ops_per_sec ratio ioloop/C", ratios("ioloop_nop", "c_liburing_nop", "ops_per_sec"), 0.8)
row("(a) cpu_us_per_op ratio ioloop/C", ratios("ioloop_nop", "c_liburing_nop", "cpu_us_per_op"))
row("(a) C-dispatch ops_per_sec", values("c_liburing_nop_dispatch", "ops_per_sec"))
row("(a) ops/s ratio ioloop/C-dispatch", ratios("ioloop_nop", "c_liburing_nop_dispatch", "ops_per_sec"))
row("(a) CPU/op ratio ioloop/C-dispatch", ratios("ioloop_nop", "c_liburing_nop_dispatch", "cpu_us_per_op"))
row("(b) ioloop_read ops_per_sec", values("ioloop_read", "ops_per_sec"))
row("(b) fio ops_per_sec", values("fio_io_uring_randread", "ops_per_sec"))
row("(b) IOPS ratio ioloop/fio", ratios("ioloop_read", "fio_io_uring_randread", "ops_per_sec"), 0.9)
row("(b) cpu_us_per_op ioloop", values("ioloop_read", "cpu_us_per_op"))
row("(b) cpu_us_per_op fio", values("fio_io_uring_randread", "cpu_us_per_op"))
row("(b) CPU/IO ratio ioloop/fio", ratios("ioloop_read", "fio_io_uring_randread", "cpu_us_per_op"), 1.3, False)
row("(c) echo server syscalls_per_msg", values("echo_server", "syscalls_per_msg"), 0.35, False)
row("(c) echo msgs_per_sec", values("echo_server", "msgs_per_sec"))
row("(c) echo server cpu_us_per_msg", values("echo_server", "cpu_us_per_msg"))
row("(c) echo p50_us", values("echo_server", "p50_us"))
row("(c) echo p99_us", values("echo_server", "p99_us"))
row("(c) echo client_cpu_us_per_msg", values("echo_server", "client_cpu_us_per_msg"))
EOF
