#!/usr/bin/env bash
# bench.sh: wrk against the nethttp example served through netconn (on
# io_uring and on epoll) and through net.Listen (the same handler, Go's own
# network poller), in interleaved rounds, on a 2-CPU machine: the server
# pinned to one CPU, wrk to the other. Reports requests/s and server CPU
# (utime+stime from /proc/<pid>/stat) per request, per round and as
# medians, with the ratios to net.Listen.
#
#   examples/nethttp/bench.sh                      # 3 rounds, 10 s each, 100 connections
#   ROUNDS=5 DURATION=15s ROUTE=/json examples/nethttp/bench.sh
#   SERVERS="netconn-io_uring netconn-unlocked-io_uring net" examples/nethttp/bench.sh
#
# Needs wrk (apt-get install -y wrk) and taskset (util-linux).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-100}
ROUTE=${ROUTE:-/plaintext}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18181}
SERVERS=${SERVERS:-"netconn-io_uring netconn-epoll net"}

for tool in wrk taskset curl; do
	command -v "$tool" >/dev/null || { echo "bench.sh: $tool is missing" >&2; exit 1; }
done

bin=$(mktemp -d)/nethttp
go build -o "$bin" ./examples/nethttp
clk_tck=$(getconf CLK_TCK)
results=$(mktemp)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_one() { # server round
	local server=$1 round=$2 args
	case $server in
	net) args=(-server net) ;;
	netconn-unlocked-*) args=(-server netconn -unlocked-thread -backend "${server#netconn-unlocked-}") ;;
	netconn-*) args=(-server netconn -backend "${server#netconn-}") ;;
	esac
	taskset -c "$SERVER_CPU" "$bin" -addr "127.0.0.1:$PORT" "${args[@]}" 2>/dev/null &
	local pid=$!
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$PORT$ROUTE" >/dev/null 2>&1 && break
		sleep 0.05
	done
	taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$WARMUP" "http://127.0.0.1:$PORT$ROUTE" >/dev/null
	local before after out requests rps
	before=$(cpu_ticks "$pid")
	out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$PORT$ROUTE")
	after=$(cpu_ticks "$pid")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	requests=$(awk '/requests in/ {print $1}' <<<"$out")
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
		echo "bench.sh: $server round $round: $(grep "Non-2xx\|Socket errors" <<<"$out")" >&2
	fi
	awk -v s="$server" -v r="$round" -v rps="$rps" -v n="$requests" -v d="$((after - before))" -v hz="$clk_tck" \
		'BEGIN { printf "%s %d %.0f %.2f\n", s, r, rps, d / hz * 1e6 / n }' | tee -a "$results"
}

echo "# $(date -u +%Y-%m-%d) $(uname -r), wrk -t1 -c$CONNS -d$DURATION $ROUTE, server on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
echo "# server round requests/s cpu-us/request"
for round in $(seq "$ROUNDS"); do
	for server in $SERVERS; do
		run_one "$server" "$round"
	done
done

echo "# medians (ratio to net)"
awk '
	{ rps[$1] = rps[$1] " " $3; cpu[$1] = cpu[$1] " " $4; if (!($1 in seen)) { order[++k] = $1; seen[$1] = 1 } }
	function median(list,   a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		baseR = median(rps["net"]); baseC = median(cpu["net"])
		for (i = 1; i <= k; i++) {
			s = order[i]; r = median(rps[s]); c = median(cpu[s])
			if (baseR > 0) printf "%-18s %8.0f req/s (%.2fx)  %6.2f us CPU/request (%.2fx)\n", s, r, r / baseR, c, c / baseC
			else printf "%-18s %8.0f req/s  %6.2f us CPU/request\n", s, r, c
		}
	}' "$results"
