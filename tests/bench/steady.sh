#!/usr/bin/env bash
# What steady issuing costs in CPU at a fixed offered rate: µs of CPU time
# (user and system, all threads) per request of the node, the broker and
# MariaDB, and the latency `dibsctl load` saw. Below what the machine
# carries, the rate is the same in every run, so this varies far less from
# run to run than the closed loop of bench.sh, where wrk sends as fast as
# answers come and the rate and the mix of answers move with the host: a
# change worth a few per cent of CPU shows here and not there.
#
#   bash tests/bench/steady.sh [rate, default 6000] [seconds, default 20] [node options]
#
# Warms the broker as bench.sh does (DIBS_BENCH_WARMUP seconds of wrk, 30 by
# default), then `dibsctl load` issues at the rate in an open loop on one
# coupon of 10^8 units, users from 1..10^12 (every request issues); the CPU
# and the node's request count are read from the 5th second to 3 s before
# the end. Own dependencies and node under .run/steady on ports 27080,
# 27306, 27379, 27092 (below the ephemeral range, which an outgoing
# connection may hold a moment before the node listens), stopped at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rate=${1:-6000}
duration=${2:-20}
shift 2 || shift $# || true
[ "$duration" -ge 10 ] || { echo "steady.sh: at least 10 seconds" >&2; exit 2; }
export DIBS_RUN_DIR=$root/.run/steady
export DIBS_HTTP_PORT=27080 DIBS_MYSQL_PORT=27306 DIBS_REDIS_PORT=27379
export DIBS_KAFKA_PORT=27092
export DIBS_ADMIN_TOKEN=steady-token
source "$root/cluster-config/env.sh"

source "$root/tests/bench/lib.sh"
bench_fresh_node "$@"
api=http://127.0.0.1:$DIBS_HTTP_PORT

warmup=${DIBS_BENCH_WARMUP:-30}
if [ "$warmup" -gt 0 ]; then
  id=$(curl -fs -XPOST "$api/api/coupons" \
    -H "Authorization: Bearer $DIBS_ADMIN_TOKEN" \
    -H 'Content-Type: application/json' \
    -d '{"name":"warmup","discount":1000,"totalQuantity":100000000}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["couponId"])')
  DIBS_FIRST_COUPON=$id DIBS_COUPONS=1 DIBS_USERS=1000000000000 \
    wrk -t1 -c100 -d"${warmup}s" -s "$root/cli/wrk/issue.lua" "$api" >/dev/null
fi

cat >"$DIBS_RUN_DIR/steady.json" <<JSON
{
  "name": "steady",
  "description": "every request issues, at a fixed rate",
  "coupons": [{"count": 1, "totalQuantity": 100000000, "discount": 1000}],
  "users": {"from": 1, "to": 1000000000000},
  "flow": "issue",
  "thinkTime": "0ms",
  "load": {"vus": 100, "duration": "${duration}s"}
}
JSON

requests() { # answered by the node so far
  curl -fs "$api/metrics" -H "Authorization: Bearer $DIBS_ADMIN_TOKEN" |
    awk '/^dibs_http_requests_total/ {s += $2} END {print s}'
}

"$DIBS_BUILD_DIR/cli/dibsctl" load --url "$api" \
  --admin-token "$DIBS_ADMIN_TOKEN" --mysql.port "$DIBS_MYSQL_PORT" \
  --kafka.bootstrap-file "$DIBS_RUN_DIR/kafka.bootstrap" \
  -s "$DIBS_RUN_DIR/steady.json" --rate "$rate" --max-connections 200 -q \
  >"$DIBS_RUN_DIR/load.md" &
load=$!
sleep 5
n0=$(requests) before=$(bench_cpu_ticks) t0=$(date +%s.%N)
sleep $((duration - 8))
n1=$(requests) after=$(bench_cpu_ticks) t1=$(date +%s.%N)
wait "$load" || { echo "steady.sh: dibsctl load failed, see $DIBS_RUN_DIR/load.md" >&2; exit 1; }

awk -v b="$before" -v a="$after" -v n=$((n1 - n0)) -v t0="$t0" -v t1="$t1" \
  -v hz="$(getconf CLK_TCK)" 'BEGIN {
  split(b, x, " "); split(a, y, " "); split("node broker MariaDB", name, " ");
  printf "%d requests in %.1f s (%.0f/s)\n", n, t1 - t0, n / (t1 - t0);
  for (i = 1; i <= 3; i++)
    printf "%-8s %6.1f µs of CPU per request, %.2f cores\n", name[i],
      (y[i] - x[i]) * 1e6 / hz / n, (y[i] - x[i]) / hz / (t1 - t0) }'
grep -E '^\| (endpoint|issue) ' "$DIBS_RUN_DIR/load.md"
grep -E '\*\*.* req/s' "$DIBS_RUN_DIR/load.md"
grep -E '^\| [a-z_]+ \|.*\| (pass|fail) ' "$DIBS_RUN_DIR/load.md" | grep -v '| pass ' || true
