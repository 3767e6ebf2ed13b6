#!/usr/bin/env bash
# What fencing by Kafka transactions would cost on the issue path: the
# latency of a record with the idempotent producer dibs uses, against a
# transaction of 1 and of 5 records (begin, produce, commit), on the
# embedded broker (docs/cluster.md, "Fencing").
#
#   bash tests/bench/kafka_txn.sh [rounds]     # default 300
#
# Builds tests/bench/kafka_txn/bench.cpp into $DIBS_BUILD_DIR/bench-txn/,
# starts a broker of its own under .run/bench-txn (port 22092) and stops it
# afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${DIBS_BUILD_DIR:-$root/build}/bench-txn
rounds=${1:-300}

export DIBS_RUN_DIR=$root/.run/bench-txn
export DIBS_HTTP_PORT=22080 DIBS_MYSQL_PORT=22306 DIBS_REDIS_PORT=22379
export DIBS_KAFKA_PORT=22092
source "$root/cluster-config/env.sh"

mkdir -p "$out"
g++ -std=c++17 -O2 "$here/kafka_txn/bench.cpp" -o "$out/bench" \
  -lrdkafka++ -lrdkafka

cleanup() { bash "$root/cluster-config/deps.sh" stop >/dev/null || true; }
trap cleanup EXIT
bash "$root/cluster-config/deps.sh" stop >/dev/null
rm -rf "$DIBS_RUN_DIR"
bash "$root/cluster-config/deps.sh" start kafka >/dev/null
"$out/bench" "$(cat "$DIBS_KAFKA_BOOTSTRAP_FILE")" "bench.txn.$RANDOM" "$rounds"
