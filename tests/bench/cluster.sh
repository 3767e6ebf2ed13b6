#!/usr/bin/env bash
# Measures the cluster of docs/cluster.md on this machine, with wrk:
#
#   single     one node, 100 connections issuing on 100 coupons with more
#              stock than the run (every request an issuance).
#   cluster    three nodes of one cluster, the same load spread over their
#              three gateways (34 + 33 + 33 connections), one wrk each;
#              about two thirds of the requests are forwarded.
#   no-forward the same, but each gateway gets only the coupons its node
#              owns: three nodes' cost without forwarding.
#   local      one connection, one request at a time, through n1 to coupons
#              n1 owns: latency without forwarding;
#   forwarded  the same through n1 to coupons n2 owns;
#   ... view   the same with GET /api/coupons/{id}: the hop alone, without
#              Kafka's round trip.
#
# A killed node's coupons move to the survivors: tests/bench/takeover.sh
# measures how long that takes.
#
#   bash tests/bench/cluster.sh [seconds per run, default 15]
#
# It starts its own dependencies and nodes under .run/bench-cluster (ports
# 28180-28183, actors 24241-24243, MariaDB 23316, Redis 26389) and stops
# them at the end. The three nodes share the machine's cores with wrk.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
duration=${1:-15}
export DIBS_RUN_DIR=$root/.run/bench-cluster
export DIBS_HTTP_PORT=28180 DIBS_MYSQL_PORT=23316 DIBS_REDIS_PORT=26389
export DIBS_KAFKA_PORT=29192
export DIBS_ADMIN_TOKEN=bench-token
source "$root/cluster-config/env.sh"
cluster_sh=$root/cluster-config/cluster.sh
file=$DIBS_RUN_DIR/cluster.ini

bash "$root/cluster-config/install.sh"
bash "$root/cluster-config/build.sh" >/dev/null

stop_all() {
  bash "$root/cluster-config/node.sh" stop || true
  for n in n1 n2 n3; do bash "$cluster_sh" node stop "$n" "$file" || true; done
  bash "$root/cluster-config/deps.sh" stop || true
}
trap stop_all EXIT
bash "$root/cluster-config/deps.sh" stop
rm -rf "$DIBS_RUN_DIR"
bash "$root/cluster-config/deps.sh" start >/dev/null
cat >"$file" <<INI
[cluster]
nodes=[
  {id="n1", http="127.0.0.1:28181", actor="127.0.0.1:24241"},
  {id="n2", http="127.0.0.1:28182", actor="127.0.0.1:24242"},
  {id="n3", http="127.0.0.1:28183", actor="127.0.0.1:24243"},
]
shards=256
[writer]
count=1
[scheduler]
max-threads=1
INI

create() { # url name quantity -> coupon id
  curl -fs -XPOST "$1/api/coupons" -H "Authorization: Bearer $DIBS_ADMIN_TOKEN" \
    -H 'Content-Type: application/json' \
    -d "{\"name\":\"$2\",\"discount\":1000,\"totalQuantity\":$3}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["couponId"])'
}
owned() { # url -> comma list of the coupons that node serves
  curl -fs "$1/admin/api/stock" -H "Authorization: Bearer $DIBS_ADMIN_TOKEN" |
    python3 -c 'import json,sys; print(",".join(str(a["couponId"]) for a in json.load(sys.stdin)["stockActors"]))'
}
wrk_run() { # label connections url coupon-list [view] -> summary file
  DIBS_COUPON_LIST=$4 DIBS_USERS=1000000000000 DIBS_VIEW=${5:-0} \
    wrk -t1 -c"$2" -d"${duration}s" --latency -s "$root/cli/wrk/issue.lua" "$3" \
    >"$DIBS_RUN_DIR/wrk-$1.txt"
}
summary() { # label -> "req/s p50 p99 non-2xx"
  local f=$DIBS_RUN_DIR/wrk-$1.txt
  echo "$(awk '/Requests\/sec/ {print $2}' "$f") $(awk '$1 == "50%" {print $2}' "$f")" \
       "$(awk '$1 == "99%" {print $2}' "$f") $(awk '/Non-2xx/ {print $5}' "$f" | grep . || echo 0)"
}
row() { printf '| %-22s | %10s | %8s | %8s | %8s |\n' "$@"; }

echo "| run                    |      req/s |      p50 |      p99 |  non-2xx |"
echo "|------------------------|------------|----------|----------|----------|"

# One node. It makes the topic the three nodes use after it: with 6
# partitions, as three nodes would (alone it would make 2).
bash "$root/cluster-config/node.sh" start --kafka.partitions=6 >/dev/null
single=http://127.0.0.1:$DIBS_HTTP_PORT
list=""
for i in $(seq 100); do list+="${list:+,}$(create "$single" "single-$i" 100000000)"; done
wrk_run single 100 "$single" "$list"
# shellcheck disable=SC2046
row "1 node" $(summary single)
bash "$root/cluster-config/node.sh" stop

# Three nodes.
for n in n1 n2 n3; do bash "$cluster_sh" node start "$n" "$file" >/dev/null; done
n1=http://127.0.0.1:28181 n2=http://127.0.0.1:28182 n3=http://127.0.0.1:28183
list=""
for i in $(seq 100); do list+="${list:+,}$(create "$n1" "cluster-$i" 100000000)"; done
three() { # label prefix list1 list2 list3: one wrk per gateway at once
  wrk_run "${2}1" 34 "$n1" "$3" & wrk_run "${2}2" 33 "$n2" "$4" &
  wrk_run "${2}3" 33 "$n3" "$5" &
  wait
  python3 - "$DIBS_RUN_DIR" "$1" "$2" <<'PY' | while read -r line; do row $line; done
import sys
run, label, prefix = sys.argv[1:]
total = sum(float(open(f"{run}/wrk-{prefix}{i}.txt").read()
                  .split("Requests/sec:")[1].split()[0]) for i in (1, 2, 3))
print(f"{label} {total:.2f} - - -")
PY
  for i in 1 2 3; do
    # shellcheck disable=SC2046
    row "  gateway n$i" $(summary "$2$i")
  done
}
three "3_nodes_(sum)" c "$list" "$list" "$list"
mine=$(owned "$n1")
theirs=$(owned "$n2")
three "3_nodes,_no_forwarding" l "$mine" "$theirs" "$(owned "$n3")"

# Forwarded against local latency, one request at a time.
wrk_run local 1 "$n1" "$mine"
wrk_run forwarded 1 "$n1" "$theirs"
# shellcheck disable=SC2046
row "local (n1 -> n1)" $(summary local)
# shellcheck disable=SC2046
row "forwarded (n1 -> n2)" $(summary forwarded)
wrk_run local-view 1 "$n1" "$mine" 1
wrk_run forwarded-view 1 "$n1" "$theirs" 1
# shellcheck disable=SC2046
row "local view" $(summary local-view)
# shellcheck disable=SC2046
row "forwarded view" $(summary forwarded-view)
