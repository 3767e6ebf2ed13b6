#!/usr/bin/env bash
# Measures how long a node takes to recover its stock: for a coupon of
# 10,000 and one of 1,000,000 issued users, a restart from the Redis
# snapshot plus Kafka, and one from MySQL after FLUSHALL; then the time from
# a kill -9 under load until the restarted node answers /readyz. The node's
# RSS after each restart, the 10,000-user coupon's against the
# 1,000,000-user one's, bounds the memory a stock actor holds per user.
#
#   bash tests/bench/recovery.sh [users ...]        default: 10000 1000000
#   bash tests/bench/recovery.sh --tail [users]     default: 1000000
#
# Fills each coupon with `dibsctl load` (users drawn from 1..10^12, so
# nearly every request issues), then restarts the node and reads the
# recovery lines of its log. Own dependencies and node under .run/recovery
# on ports 25080, 25306, 25379, stopped at the end. Prints a Markdown table.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export DIBS_RUN_DIR=$root/.run/recovery
export DIBS_HTTP_PORT=25080 DIBS_MYSQL_PORT=25306 DIBS_REDIS_PORT=25379
export DIBS_KAFKA_PORT=25092
export DIBS_ADMIN_TOKEN=recovery-token
# Plain log lines: the recovery lines are read back with grep and sed.
export DIBS_NODE_ARGS="${DIBS_NODE_ARGS:-} --log.format=text"
source "$root/cluster-config/env.sh"
log=$DIBS_RUN_DIR/node/dibs.log

source "$root/tests/bench/lib.sh"
bench_fresh_node

dibsctl() {
  "$DIBS_BUILD_DIR/cli/dibsctl" "$@" --url "http://127.0.0.1:$DIBS_HTTP_PORT" \
    --mysql.port "$DIBS_MYSQL_PORT" \
    --kafka.bootstrap-file "$DIBS_KAFKA_BOOTSTRAP_FILE"
}

# The last takeover line of the log: "<ms> <coupons>" (a node recovers its
# coupons when it takes its shards over; the time counts from the group's
# assignment until the shard serves).
last_recovery() {
  grep 'took shard .* over' "$log" | tail -1 |
    sed -E 's/.* in ([0-9]+) ms \(fencing [0-9]+ ms\), ([0-9]+) coupons.*/\1 \2/'
}

# The node's resident memory in MB (VmRSS) after a restart: what its
# recovered stock holds. Recovering's transient memory, freed, stays with
# glibc's allocator; with gdb at hand it is handed back first
# (malloc_trim(0) called in the node), so that RSS counts what is held.
rss_mb() {
  local pid
  pid=$(cat "$DIBS_RUN_DIR/node/dibs.pid")
  sleep 3 # The first whole snapshot write after recovery.
  if command -v gdb >/dev/null; then
    gdb -p "$pid" -batch -ex 'call (int) malloc_trim(0)' >/dev/null 2>&1 || true
  fi
  awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status"
}

# Stops the node (SIGTERM: it drains) and starts it; prints the seconds from
# the start command until /readyz answered 200. With "flush", Redis is
# emptied while the node is down (a running node would write its snapshots
# again, as it does when it finds Redis emptied).
restart() {
  bash "$root/cluster-config/node.sh" stop >/dev/null
  if [ "${1:-}" = flush ]; then
    redis-cli -p "$DIBS_REDIS_PORT" FLUSHALL >/dev/null
  fi
  local t0
  t0=$(date +%s.%N)
  bash "$root/cluster-config/node.sh" start >/dev/null
  python3 -c "import time; print(f'{time.time() - $t0:.2f}')"
}

# Recovery from the log alone: a coupon filled while MariaDB is stopped (all
# but its first seconds' issuances stay in Kafka's unwritten tail), the node
# kill -9'd, Redis flushed, MariaDB resumed, the node started: it must read
# the whole tail from Kafka.
if [ "${1:-}" = "--tail" ]; then
  users=${2:-1000000}
  scenario=$DIBS_RUN_DIR/tail-$users.json
  cat >"$scenario" <<JSON
{"name": "tail-$users", "description": "one coupon of $users units, filled",
 "coupons": [{"count": 1, "totalQuantity": $users, "discount": 1}],
 "users": {"from": 1, "to": 1000000000000}, "flow": "issue",
 "thinkTime": "0ms", "load": {"vus": 128, "duration": "$((users / 6000 + 10))s"}}
JSON
  dibsctl load --scenario "$scenario" --quiet --drain-timeout-s 1 >/dev/null 2>&1 &
  load=$!
  sleep 4
  mysqld=$(cat "$DIBS_RUN_DIR/mysql/mysqld.pid")
  kill -STOP "$mysqld"
  # Not `wait`: at its end the load reads MySQL, which is stopped.
  sleep $((users / 6000 + 8))
  kill -9 "$(cat "$DIBS_RUN_DIR/node/dibs.pid")"
  redis-cli -p "$DIBS_REDIS_PORT" FLUSHALL >/dev/null
  kill -CONT "$mysqld"
  wait $load || true
  t0=$(date +%s.%N)
  bash "$root/cluster-config/node.sh" start >/dev/null
  ready=$(python3 -c "import time; print(f'{time.time() - $t0:.2f}')")
  read -r ms coupons <<<"$(last_recovery)"
  phases=$(grep 'recovery: snapshots' "$log" | tail -1 | sed 's/.*recovery: //')
  echo "| issued users | source | takeover (all coupons) | start to /readyz | phases |"
  echo "|---|---|---|---|---|"
  echo "| $users (MariaDB stopped) | MySQL rows + Kafka tail ($coupons coupons) | $ms ms | $ready s | $phases |"
  exit 0
fi

echo "| issued users | source | takeover (all coupons) | start to /readyz | node RSS | phases |"
echo "|---|---|---|---|---|---|"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 1000000)
for users in "${sizes[@]}"; do
  scenario=$DIBS_RUN_DIR/fill-$users.json
  cat >"$scenario" <<JSON
{"name": "fill-$users", "description": "one coupon of $users units, filled",
 "coupons": [{"count": 1, "totalQuantity": $users, "discount": 1}],
 "users": {"from": 1, "to": 1000000000000}, "flow": "issue",
 "thinkTime": "0ms", "load": {"vus": 128, "duration": "$((users / 8000 + 5))s"}}
JSON
  dibsctl load --scenario "$scenario" --quiet --drain-timeout-s 300 >/dev/null || true
  coupon=$(mariadb --socket="$DIBS_RUN_DIR/mysql/mysqld.sock" -uroot -N -B dibs \
    -e "SELECT coupon_id, COUNT(*) FROM user_coupons GROUP BY coupon_id ORDER BY coupon_id DESC LIMIT 1")
  ready=$(restart)
  read -r ms coupons <<<"$(last_recovery)"
  phases=$(grep 'recovery: snapshots' "$log" | tail -1 | sed 's/.*recovery: //')
  echo "| ${coupon#*	} (coupon ${coupon%%	*}) | Redis snapshot + Kafka ($coupons coupons) | $ms ms | $ready s | $(rss_mb) MB | $phases |"
  ready=$(restart flush)
  read -r ms coupons <<<"$(last_recovery)"
  phases=$(grep 'recovery: snapshots' "$log" | tail -1 | sed 's/.*recovery: //')
  echo "| ${coupon#*	} (coupon ${coupon%%	*}) | MySQL rebuild ($coupons coupons) | $ms ms | $ready s | $(rss_mb) MB | $phases |"
done

# Restart under load: kill -9 while hot-coupon runs, restart, time /readyz.
dibsctl load --scenario hot-coupon --duration-scale 0.15 --quiet >/dev/null &
load=$!
sleep 6
pid=$(cat "$DIBS_RUN_DIR/node/dibs.pid")
kill -9 "$pid"
t0=$(date +%s.%N)
# Until it is gone or a zombie (env.sh: kill -0 succeeds on a zombie, which
# pid 1 may take seconds to reap and would count in the restart time).
while dibs_pid_alive "$pid"; do sleep 0.01; done
bash "$root/cluster-config/node.sh" start >/dev/null
t1=$(date +%s.%N)
wait $load || true
echo
echo "kill -9 under load (hot-coupon, 256 VUs): the restarted node was ready" \
  "$(python3 -c "print(f'{$t1 - $t0:.2f}')") s later (process start, recovery, /readyz)"

# MariaDB stopped under load: hundred-coupons at full pressure for 20 s,
# mariadbd SIGSTOPped from second 4 until the load ends; the report's drain
# time is how long the writers took to empty the backlog once it returned.
report=$DIBS_RUN_DIR/mariadb-stop.json
dibsctl load --scenario hundred-coupons --think-time 0ms --vus 100 \
  --duration-scale "$(python3 -c 'print(20 / 600)')" --drain-timeout-s 300 \
  --quiet --json "$report" >/dev/null &
load=$!
sleep 4
kill -STOP "$(cat "$DIBS_RUN_DIR/mysql/mysqld.pid")"
sleep 16
kill -CONT "$(cat "$DIBS_RUN_DIR/mysql/mysqld.pid")"
wait $load || true
python3 - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
peak = max((s["total"] for s in r["kafkaLag"]), default=0)
print(f"MariaDB stopped 16 s under load: backlog peaked at {peak} records; "
      f"writers drained {r['drainS']:.2f} s after it returned; integrity "
      f"{'pass' if r['integrity']['passed'] else 'FAIL'}")
PY
