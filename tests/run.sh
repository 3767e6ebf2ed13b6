#!/usr/bin/env bash
# The one command that runs every test on a fresh Debian 12 machine:
# installs the packages, builds, starts Redis, MariaDB and the embedded Kafka
# broker on test ports under their own run folder, runs CTest, and stops
# everything it started.
#
#   bash tests/run.sh [ctest arguments]     e.g. -R actors.  or  -L integration
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# Test dependencies get their own ports and run folder, so a node started
# by cluster-config/run.sh can keep running beside the tests.
export DIBS_RUN_DIR=${DIBS_TEST_RUN_DIR:-$root/.run/test}
export DIBS_HTTP_PORT=${DIBS_TEST_HTTP_PORT:-18080}
export DIBS_MYSQL_PORT=${DIBS_TEST_MYSQL_PORT:-13306}
export DIBS_REDIS_PORT=${DIBS_TEST_REDIS_PORT:-16379}
export DIBS_KAFKA_PORT=${DIBS_TEST_KAFKA_PORT:-19092}
export DIBS_ADMIN_TOKEN=test-admin-token
# The fault-injection tests crash actors through POST /admin/faults. The
# suite's nodes share one issuance topic, made by the first node to start
# (a node alone would make 2 partitions): 6, as the three nodes of
# integration.cluster make it, so that each of them owns shards.
export DIBS_NODE_ARGS="--node.fault-injection --kafka.partitions=6"

bash "$root/cluster-config/install.sh" --tests
bash "$root/cluster-config/build.sh"

cleanup() {
  bash "$root/cluster-config/node.sh" stop || true
  bash "$root/cluster-config/deps.sh" stop || true
}
trap cleanup EXIT
# Every run starts from empty dependencies.
bash "$root/cluster-config/deps.sh" stop
rm -rf "$DIBS_RUN_DIR"
bash "$root/cluster-config/deps.sh" start

cd "${DIBS_BUILD_DIR:-$root/build}"
ctest --output-on-failure "$@"
