#!/usr/bin/env bash
# bench/baseline.sh - C / fio reference baselines for the ioloop Go event loop.
#
# Prints one "name=... key=value ..." line per measurement (lines starting
# with '#' are context: versions, kernel), so results can be grepped:
#
#   name=c_liburing_nop batch=N ops=N ops_per_sec=N cpu_us_per_op=F   (batch 1,8,32,128)
#   name=c_liburing_nop_dispatch batch=128 ops=N ops_per_sec=N cpu_us_per_op=F
#   name=fio_io_uring_randread qd=64 bs=4096 ops_per_sec=N cpu_us_per_op=F
#
# Environment overrides (defaults in brackets):
#   IOLOOP_BENCH_FILE     fio test file, 1 GiB, created if absent [/tmp/ioloop-bench.dat]
#   IOLOOP_BENCH_RUNTIME  fio runtime in seconds                  [5]
#   IOLOOP_BENCH_QD       fio iodepth                             [64]
#   IOLOOP_NOP_COUNT      NOPs per batch size                     [10000000]
#
# Default total runtime is ~15 s (+ ~5-10 s once to create the test file).
# The test file must live on a filesystem that supports O_DIRECT (not tmpfs).
set -euo pipefail

BENCH_FILE=${IOLOOP_BENCH_FILE:-/tmp/ioloop-bench.dat}
RUNTIME=${IOLOOP_BENCH_RUNTIME:-5}
QD=${IOLOOP_BENCH_QD:-64}
NOP_COUNT=${IOLOOP_NOP_COUNT:-10000000}
BS=4096
FILE_MIB=1024
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "baseline.sh: $*" >&2; exit 1; }

for v in RUNTIME QD NOP_COUNT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done

# (a) Install missing tools. apt-get runs only when something is missing, so
# repeated runs (and machines that already have everything) stay offline.
missing=()
command -v gcc >/dev/null || missing+=(gcc)
command -v fio >/dev/null || missing+=(fio)
command -v python3 >/dev/null || missing+=(python3)
[[ -f /usr/include/liburing.h ]] || missing+=(liburing-dev)
if ((${#missing[@]})); then
	SUDO=
	[[ $(id -u) -eq 0 ]] || SUDO=sudo
	echo "# installing: ${missing[*]}" >&2
	$SUDO apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# (b) Compile into a private temp dir, removed on exit.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
gcc -O2 -Wall -o "$WORK/nop_liburing" "$SRC_DIR/c/nop_liburing.c" -luring
gcc -O2 -Wall -o "$WORK/nop_dispatch" "$SRC_DIR/c/nop_dispatch.c" -luring

# (c) Test file: real (non-sparse) random data, so reads hit the device rather
# than unallocated extents (see bench/lib.sh).
source "$SRC_DIR/lib.sh"
ensure_bench_file "$BENCH_FILE" "$FILE_MIB"

echo "# date=$(date -u +%Y-%m-%dT%H:%M:%SZ) kernel=$(uname -r) cpus=$(nproc)"
echo "# fio=$(fio --version) liburing=$(dpkg-query -W -f='${Version}' liburing-dev 2>/dev/null || echo unknown)"

# (d) NOP dispatch rate at several batch sizes (one syscall per batch).
for batch in 1 8 32 128; do
	"$WORK/nop_liburing" -batch "$batch" -count "$NOP_COUNT"
done
# The same NOPs through a C event loop with ioloop's completion/callback
# design (caller-owned completions, overflow and completed FIFOs, one
# callback per operation) and ring flags: what C gets doing ioloop's work.
"$WORK/nop_dispatch" -batch 128 -count "$NOP_COUNT"

# (e) fio 4k random read, O_DIRECT, io_uring engine. JSON goes to a file
# (--output) so that any notices fio prints cannot corrupt it.
fio --name=randread --filename="$BENCH_FILE" --ioengine=io_uring --direct=1 \
	--rw=randread --bs=$BS --iodepth="$QD" --runtime="$RUNTIME" --time_based \
	--numjobs=1 --group_reporting --output-format=json \
	--output="$WORK/fio.json" >/dev/null

# cpu_us_per_op = (usr_cpu + sys_cpu)% / 100 * runtime_s * 1e6 / total_ios
python3 - "$WORK/fio.json" "$QD" "$BS" <<'EOF'
import json, sys

path, qd, bs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path) as f:
    job = json.load(f)["jobs"][0]  # numjobs=1 + group_reporting: one entry
rd = job["read"]
if job.get("error"):
    sys.exit(f"baseline.sh: fio job error {job['error']}")
ios = rd["total_ios"]
runtime_s = rd["runtime"] / 1000.0  # fio reports milliseconds
if ios <= 0 or runtime_s <= 0:
    sys.exit(f"baseline.sh: fio did no I/O (total_ios={ios}, runtime={runtime_s}s)")
cpu_s = (job["usr_cpu"] + job["sys_cpu"]) / 100.0 * runtime_s
print(f"name=fio_io_uring_randread qd={qd} bs={bs} "
      f"ops_per_sec={rd['iops']:.0f} cpu_us_per_op={cpu_s * 1e6 / ios:.3f}")
EOF
