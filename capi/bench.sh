#!/bin/sh
# capi/bench.sh: the measured cost of the C API's boundary, in one run,
# rounds interleaved, medians printed at the end:
#   - NOP dispatch at batch 128: examples/c/nop_bench (through the C API,
#     from C) against `ioloop bench nop` (the Go API);
#   - echo, 1000 connections x 64 B: the server CPU per message of
#     examples/c/echo (C API, from C) against `ioloop echo` (Go API), both
#     pinned to CPU 0 with the load generator (capi/echobench) on CPU 1.
#
#     sh capi/bench.sh [ROUNDS]      (default 5; not part of ci.sh)
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
make -C examples/c libioloop.so nop_bench echo >/dev/null
go build -o "$out/ioloop" ./cmd/ioloop
go build -o "$out/echobench" ./capi/echobench
pin0="taskset -c 0"
pin1="taskset -c 1"
command -v taskset >/dev/null || { pin0=""; pin1=""; }

for r in $(seq "$ROUNDS"); do
	echo "# round $r/$ROUNDS" >&2
	$pin0 examples/c/nop_bench -batch 128 -count 10000000 | tee -a "$out/nop_c"
	$pin0 "$out/ioloop" bench nop -batch 128 -count 10000000 | tee -a "$out/nop_go"
	"$out/echobench" -client-cpu 1 -label c -- $pin0 examples/c/echo -addr 127.0.0.1:0 | tee -a "$out/echo_c"
	"$out/echobench" -client-cpu 1 -label go -- $pin0 "$out/ioloop" echo -addr 127.0.0.1:0 | tee -a "$out/echo_go"
done

# median FILE FIELD: the median of FIELD=value over FILE's lines.
median() {
	sed -n "s/.* $2=\([0-9.]*\).*/\1/p" "$1" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'
}
nc=$(median "$out/nop_c" ops_per_sec); ng=$(median "$out/nop_go" ops_per_sec)
ncc=$(median "$out/nop_c" cpu_us_per_op); ngc=$(median "$out/nop_go" cpu_us_per_op)
ec=$(median "$out/echo_c" server_cpu_us_per_msg); eg=$(median "$out/echo_go" server_cpu_us_per_msg)
erc=$(median "$out/echo_c" msgs_per_sec); erg=$(median "$out/echo_go" msgs_per_sec)
echo
echo "medians of $ROUNDS interleaved rounds, $(date -u +%Y-%m-%d):"
echo "NOP batch 128: C API $nc ops/s ($ncc us CPU/op), Go API $ng ops/s ($ngc us CPU/op): C/Go rate $(awk "BEGIN{printf \"%.2f\", $nc/$ng}") (target >= 0.5)"
echo "echo 1000x64B: C API $ec us server CPU/msg ($erc msgs/s), Go API $eg us/msg ($erg msgs/s): C/Go CPU $(awk "BEGIN{printf \"%.2f\", $ec/$eg}") (target <= 1.2)"
