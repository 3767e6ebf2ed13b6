#!/usr/bin/env bash
# Measures failover against the number of coupons: a three-node cluster
# (docs/cluster.md) with N coupons, each issued to for a while so that its
# shard's partition has records; then kill -9 of n2, idle, and
#
#   issue      seconds from the kill until one of n2's coupons issues again
#              through n1 (the group's session timeout, the takeover, the
#              peers learning the new owner);
#   took       the survivors' takeovers of n2's shards, from the group's
#              assignment until the shard served (epoch, fence, recovery of
#              its coupons from Redis and the partition's tail, actors
#              spawned): the longest, and the fencing part of it;
#   coupons    how many coupons those takeovers recovered.
#
#   bash tests/bench/takeover.sh [coupon counts...]    default: 100 1000 5000
#
# Each count gets fresh dependencies and nodes under .run/bench-takeover
# (HTTP 21181-21183, actors 21241-21243, MariaDB 21316, Redis 21389, Kafka
# 21192), stopped at the end. Prints a Markdown table.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100 1000 5000)
export DIBS_RUN_DIR=$root/.run/bench-takeover
export DIBS_HTTP_PORT=21180 DIBS_MYSQL_PORT=21316 DIBS_REDIS_PORT=21389
export DIBS_KAFKA_PORT=21192
export DIBS_ADMIN_TOKEN=bench-token
source "$root/cluster-config/env.sh"
cluster_sh=$root/cluster-config/cluster.sh
file=$DIBS_RUN_DIR/../bench-takeover.ini
n1=http://127.0.0.1:21181 n2=http://127.0.0.1:21182 n3=http://127.0.0.1:21183

bash "$root/cluster-config/install.sh"
bash "$root/cluster-config/build.sh" >/dev/null

stop_all() {
  for n in n1 n2 n3; do bash "$cluster_sh" node stop "$n" "$file" >/dev/null || true; done
  bash "$root/cluster-config/deps.sh" stop >/dev/null || true
}
trap stop_all EXIT
mkdir -p "$(dirname "$file")"
cat >"$file" <<INI
[cluster]
nodes=[
  {id="n1", http="127.0.0.1:21181", actor="127.0.0.1:21241"},
  {id="n2", http="127.0.0.1:21182", actor="127.0.0.1:21242"},
  {id="n3", http="127.0.0.1:21183", actor="127.0.0.1:21243"},
]
[writer]
count=1
[scheduler]
max-threads=1
INI

takeovers() { # url -> number of takeovers the node lists
  curl -fs "$1/admin/api/nodes" -H "Authorization: Bearer $DIBS_ADMIN_TOKEN" |
    python3 -c 'import json,sys; print(len(next(n for n in json.load(sys.stdin)["nodes"] if n["self"])["takeovers"]))'
}

echo "| coupons | n2's coupons | kill -> issue via n1 | longest takeover | its fencing | coupons recovered |"
echo "|---------|--------------|----------------------|------------------|-------------|-------------------|"
for count in "${counts[@]}"; do
  stop_all
  rm -rf "$DIBS_RUN_DIR"
  bash "$root/cluster-config/deps.sh" start >/dev/null
  for n in n1 n2 n3; do bash "$cluster_sh" node start "$n" "$file" >/dev/null; done
  # The coupons, then 20 s of issuing spread over them through n1.
  range=$(python3 - "$n1" "$count" <<'PY'
import http.client, json, os, sys, urllib.parse
url, count = urllib.parse.urlparse(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection(url.hostname, url.port)
ids = []
for i in range(count):
    conn.request("POST", "/api/coupons", json.dumps(
        {"name": f"takeover-{i}", "discount": 1000, "totalQuantity": 10**8}),
        {"Content-Type": "application/json",
         "Authorization": "Bearer " + os.environ["DIBS_ADMIN_TOKEN"]})
    ids.append(json.loads(conn.getresponse().read())["couponId"])
print(min(ids), len(ids))
PY
)
  read -r first created <<<"$range"
  DIBS_FIRST_COUPON=$first DIBS_COUPONS=$created DIBS_USERS=1000000000000 \
    wrk -t1 -c50 -d20s -s "$root/cli/wrk/issue.lua" "$n1" >/dev/null
  theirs=$(curl -fs "$n2/admin/api/stock" -H "Authorization: Bearer $DIBS_ADMIN_TOKEN" |
    python3 -c 'import json,sys; a=json.load(sys.stdin)["stockActors"]; print(len(a), a[0]["couponId"])')
  read -r their_count coupon <<<"$theirs"
  before1=$(takeovers "$n1") before3=$(takeovers "$n3")
  sleep 2
  kill -9 "$(cat "$DIBS_RUN_DIR/n2/dibs.pid")"
  start=$(date +%s.%N)
  user=900000000
  while :; do
    user=$((user + 1))
    code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$n1/api/coupons/$coupon/issue" \
             -H 'Content-Type: application/json' -d "{\"userId\":$user}")
    [ "$code" = 201 ] || [ "$code" = 202 ] && break
    sleep 0.02
  done
  end=$(date +%s.%N)
  sleep 2
  python3 - "$count" "$their_count" "$start" "$end" "$n1" "$before1" "$n3" "$before3" <<'PY'
import json, os, sys, urllib.request
count, theirs, start, end = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
new, recovered = [], 0
for url, before in ((sys.argv[5], sys.argv[6]), (sys.argv[7], sys.argv[8])):
    req = urllib.request.Request(url + "/admin/api/nodes", headers={
        "Authorization": "Bearer " + os.environ["DIBS_ADMIN_TOKEN"]})
    nodes = json.load(urllib.request.urlopen(req))["nodes"]
    mine = next(n for n in nodes if n["self"])["takeovers"][int(before):]
    new += mine
    # The shards of one takeover each list its time and all its coupons.
    recovered += sum(dict((t["tookMs"], t["coupons"]) for t in mine).values())
if not new:
    sys.exit(f"no takeover of n2's shards listed by n1 or n3 ({count} coupons)")
longest = max(new, key=lambda t: t["tookMs"])
print(f"| {count} | {theirs} | {end - start:.2f} s | {longest['tookMs']} ms "
      f"| {longest['fenceMs']} ms | {recovered} |")
PY
done
