#!/usr/bin/env bash
# Measures one dibs node against nginx answering a static 202, with the same
# wrk command (100 keep-alive connections, one wrk thread), back to back:
#
#   rush       100 coupons of the reference's quantities (20 each of
#              100/500/1,000/2,000/5,000), users random in 1..1,000,000:
#              most requests end SOLD_OUT, the shape of a coupon event.
#   soldout    100 coupons of one unit each, sold before the run to users
#              outside 1..1,000,000: every request is answered SOLD_OUT by
#              its stock actor, no Kafka on the way.
#   sustained  stock larger than the run, users random in 1..10^12: every
#              request is an issuance through Kafka into MariaDB; the
#              writers' lag (accepted minus written rows) is sampled.
#
#   bash tests/bench/bench.sh [seconds per run, default 15] [node options]
#
# DIBS_BENCH_RUNS picks which of nginx, rush and soldout run before
# sustained, which always runs (default "nginx rush soldout"); e.g.
# DIBS_BENCH_RUNS=none bash tests/bench/bench.sh 300 for five minutes of
# steady issuing alone, whose accepted rate is also printed per 30 s window.
#
# DIBS_BENCH_WARMUP (seconds, default 30) issues on a coupon of its own
# before the runs, with the same wrk command: the broker's JVM compiles its
# hot code in the first half minute (its JIT compiler took a fifth of the
# machine during a rush measured on a broker started seconds before), and a
# broker in service has long done so. DIBS_BENCH_WARMUP=0 measures the
# broker cold, as this script did before 2026-12-05.
#
# Node options go to the node, e.g. --kafka.linger-ms=2 --http.io-threads=2.
#
# It starts its own dependencies, nginx and node under .run/bench on ports
# 28080-28081 (plus 23306, 26379) and stops them at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
duration=${1:-15}
shift || true
export DIBS_RUN_DIR=$root/.run/bench
export DIBS_HTTP_PORT=28080 DIBS_MYSQL_PORT=23306 DIBS_REDIS_PORT=26379
export DIBS_KAFKA_PORT=29092
export DIBS_ADMIN_TOKEN=bench-token
nginx_port=28081
source "$root/cluster-config/env.sh"
source "$root/tests/bench/lib.sh"

bash "$root/cluster-config/install.sh"
bash "$root/cluster-config/build.sh" >/dev/null

stop_all() {
  bash "$root/cluster-config/node.sh" stop || true
  [ -f "$DIBS_RUN_DIR/nginx/nginx.pid" ] && kill "$(cat "$DIBS_RUN_DIR/nginx/nginx.pid")" 2>/dev/null || true
  bash "$root/cluster-config/deps.sh" stop || true
}
trap stop_all EXIT
bash "$root/cluster-config/deps.sh" stop
rm -rf "$DIBS_RUN_DIR"
bash "$root/cluster-config/deps.sh" start >/dev/null

# nginx, one worker, a static 202 with a body of the same size as dibs'.
mkdir -p "$DIBS_RUN_DIR/nginx"
cat >"$DIBS_RUN_DIR/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $DIBS_RUN_DIR/nginx/nginx.pid;
error_log $DIBS_RUN_DIR/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      default_type application/json;
      return 202 '{"issuanceId":4294967297,"couponId":1,"userId":123456,"status":"ACCEPTED","issuedAt":"2026-11-22T00:00:00.000Z"}';
    }
  }
}
NGINX
nginx -c "$DIBS_RUN_DIR/nginx/nginx.conf"

bash "$root/cluster-config/node.sh" start "$@" >/dev/null
api=http://127.0.0.1:$DIBS_HTTP_PORT
create() {
  curl -fs -XPOST "$api/api/coupons" -H "Authorization: Bearer $DIBS_ADMIN_TOKEN" \
    -H 'Content-Type: application/json' \
    -d "{\"name\":\"$1\",\"discount\":1000,\"totalQuantity\":$2}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["couponId"])'
}
rows() { # rows in MySQL for coupons $1..$2
  # The writers lower a coupon's remaining stock in the transaction that
  # inserts its rows: total minus remaining counts them, from one row per
  # coupon. (COUNT(*) over user_coupons read every row, and the sampler
  # below took a share of MariaDB's CPU that grew with the run.)
  mariadb --socket="$DIBS_MYSQL_SOCKET" -uroot -N -B dibs -e \
    "SELECT SUM(c.total_quantity - s.remaining_quantity) FROM coupons c
     JOIN coupon_stocks s ON s.coupon_id = c.id WHERE c.id BETWEEN $1 AND $2"
}
issued() { # live issued count of coupons $1..$2, from the stock actors
  python3 - "$api" "$1" "$2" <<'PY'
import json, sys, urllib.request
api, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(sum(json.load(urllib.request.urlopen(f"{api}/api/coupons/{c}"))["issuedQuantity"]
          for c in range(first, last + 1)))
PY
}

# CPU time of the node, the broker and MariaDB, read before and after each
# run: divided by the run's requests, what each costs a request. In this
# closed loop it moves with the host and the mix of answers as the rate
# does; tests/bench/steady.sh measures it at a fixed rate.
tick_us=$((1000000 / $(getconf CLK_TCK)))

run_wrk() { # label url first count users -> prints the wrk summary lines
  local before after
  before=$(bench_cpu_ticks)
  DIBS_FIRST_COUPON=$3 DIBS_COUPONS=$4 DIBS_USERS=$5 \
    wrk -t1 -c100 -d"${duration}s" --latency -s "$root/cli/wrk/issue.lua" "$2" \
    >"$DIBS_RUN_DIR/wrk-$1.txt"
  after=$(bench_cpu_ticks)
  local rps p50 p99 non2xx requests cpu
  rps=$(awk '/Requests\/sec/ {print $2}' "$DIBS_RUN_DIR/wrk-$1.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$DIBS_RUN_DIR/wrk-$1.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$DIBS_RUN_DIR/wrk-$1.txt")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$DIBS_RUN_DIR/wrk-$1.txt")
  requests=$(awk '/requests in/ {print $1}' "$DIBS_RUN_DIR/wrk-$1.txt")
  cpu=$(awk -v b="$before" -v a="$after" -v n="$requests" -v us="$tick_us" \
    'BEGIN { split(b, x, " "); split(a, y, " ");
             for (i = 1; i <= 3; i++) printf "%s%.1f", (i > 1 ? " / " : ""), (y[i] - x[i]) * us / n }')
  [ "$1" = nginx ] && cpu="—"
  printf '| %-16s | %10s | %8s | %8s | %10s | %-20s |\n' "$1" "$rps" "$p50" "$p99" "${non2xx:-0}" "$cpu"
  echo "$rps" >"$DIBS_RUN_DIR/rps-$1"
}

runs=" ${DIBS_BENCH_RUNS:-nginx rush soldout} "
echo "| run              |      req/s |      p50 |      p99 | non-2xx    | CPU µs/req: node / broker / MariaDB |"
echo "|------------------|------------|----------|----------|------------|----------------------|"
warmup=${DIBS_BENCH_WARMUP:-30}
if [ "$warmup" -gt 0 ]; then
  id=$(create warmup 100000000)
  DIBS_FIRST_COUPON=$id DIBS_COUPONS=1 DIBS_USERS=1000000000000 \
    wrk -t1 -c100 -d"${warmup}s" -s "$root/cli/wrk/issue.lua" "$api" >/dev/null
fi
[[ $runs == *" nginx "* ]] && run_wrk nginx "http://127.0.0.1:$nginx_port" 1 1 1000000

first=""
if [[ $runs == *" rush "* ]]; then
  for q in 100 500 1000 2000 5000; do
    for i in $(seq 20); do
      id=$(create "rush-$q-$i" "$q"); first=${first:-$id}
    done
  done
  run_wrk rush "$api" "$first" 100 1000000
fi

if [[ $runs == *" soldout "* ]]; then
  sold=""
  for i in $(seq 100); do
    id=$(create "soldout-$i" 1); sold=${sold:-$id}
    # A user of its own per coupon: one user's budget (limits.user-per-s)
    # does not last 100 issuances in a row on a fast host.
    curl -fs -o /dev/null -XPOST "$api/api/coupons/$id/issue" \
      -H 'Content-Type: application/json' -d "{\"userId\":$((2000000 + i))}"
  done
  first=${first:-$sold}
  run_wrk soldout "$api" "$sold" 100 1000000
fi

big=$(create sustained 100000000)
first=${first:-$big}
# Sample the writers' lag while the sustained run goes on.
# Every 0.5 s, or every 5 s past a minute (the samples are printed).
every=0.5 samples=$((duration * 2))
[ "$duration" -gt 60 ] && every=5 samples=$((duration / 5))
(
  for _ in $(seq "$samples"); do
    sleep "$every"
    # curl and sed, not issued(): a python3 started every half second
    # (through pyenv's shell shims where they come first) took about a
    # tenth of a core from the node under test.
    n=$(curl -fs "$api/api/coupons/$big" |
      sed -n 's/.*"issuedQuantity":\([0-9]*\).*/\1/p')
    echo "$(date +%s.%N) $n $(rows "$big" "$big")"
  done
) >"$DIBS_RUN_DIR/lag.txt" &
sampler=$!
run_wrk sustained "$api" "$big" 1 1000000000000
wait "$sampler" || true
end=$(date +%s.%N)
total=$(issued "$first" "$big")
while [ "$(rows "$first" "$big")" -lt "$total" ]; do sleep 0.05; done
drain=$(python3 -c "import time; print(f'{time.time() - $end:.2f}')")

python3 - "$DIBS_RUN_DIR" "$drain" <<'PY'
import os, sys
run, drain = sys.argv[1], sys.argv[2]
if os.path.exists(f"{run}/rps-nginx"):
    nginx = float(open(f"{run}/rps-nginx").read())
    for name in ("rush", "soldout", "sustained"):
        if os.path.exists(f"{run}/rps-{name}"):
            rps = float(open(f"{run}/rps-{name}").read())
            print(f"{name}: {rps / nginx:.2f}x nginx")
samples = [l.split() for l in open(f"{run}/lag.txt") if len(l.split()) == 3]
lags = [int(a) - int(w) for _, a, w in samples]
# The sampler outlasts wrk: the rate counts up to the last sample that
# still saw new issuances.
while len(samples) > 2 and samples[-1][1] == samples[-2][1]:
    samples.pop()
if len(samples) > 1:
    t0, a0 = float(samples[0][0]), int(samples[0][1])
    t1, a1 = float(samples[-1][0]), int(samples[-1][1])
    rate = (a1 - a0) / (t1 - t0) if t1 > t0 else 0
    worst = max(lags)
    print(f"sustained: accepted {rate:.0f}/s; writer lag max {worst} rows"
          f" (~{worst / rate if rate else 0:.2f} s of traffic), samples {lags}")
    if t1 - t0 >= 60:
        # Flat or not: the accepted rate per 30 s window.
        windows, start = [], 0
        for i, (t, a, _) in enumerate(samples):
            if float(t) - float(samples[start][0]) >= 30:
                dt = float(t) - float(samples[start][0])
                windows.append((int(a) - int(samples[start][1])) / dt)
                start = i
        print("sustained: accepted/s per 30 s window: "
              + ", ".join(f"{w:.0f}" for w in windows))
print(f"writers drained everything {drain} s after the last request")
PY
