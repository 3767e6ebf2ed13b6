#!/usr/bin/env bash
# Runs the load scenarios at full length against a fresh node and writes
# their reports to docs/reports/<scenario>.md and .json: the command behind
# every report committed there.
#
#   bash tests/bench/reports.sh [scenario[:extra dibsctl args] ...]
#
# Without arguments: hot-coupon, sync-rush, hundred-coupons, async-poll
# (about 35 minutes). Example with arguments:
#
#   bash tests/bench/reports.sh "hundred-coupons:--think-time 0ms --duration-scale 0.3"
#
# A run with extra arguments writes <scenario>-<n>.md for its n-th argument,
# unless it is labelled: "label=scenario:args" writes label.md.
# It starts its own dependencies and node under .run/reports on ports
# 24080 (HTTP), 24306 (MariaDB), 24379 (Redis) and stops them at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export DIBS_RUN_DIR=$root/.run/reports
export DIBS_HTTP_PORT=24080 DIBS_MYSQL_PORT=24306 DIBS_REDIS_PORT=24379
export DIBS_KAFKA_PORT=24092
export DIBS_ADMIN_TOKEN=reports-token
source "$root/cluster-config/env.sh"
out=$root/docs/reports
mkdir -p "$out"

bash "$root/cluster-config/install.sh"
bash "$root/cluster-config/build.sh" >/dev/null

stop_all() {
  bash "$root/cluster-config/node.sh" stop || true
  bash "$root/cluster-config/deps.sh" stop || true
}
trap stop_all EXIT
bash "$root/cluster-config/deps.sh" stop
rm -rf "$DIBS_RUN_DIR"
bash "$root/cluster-config/deps.sh" start >/dev/null
bash "$root/cluster-config/node.sh" start >/dev/null

runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(hot-coupon sync-rush hundred-coupons async-poll)
status=0
n=0
for run in "${runs[@]}"; do
  n=$((n + 1))
  label=
  if [[ $run == *=* ]]; then label=${run%%=*}; run=${run#*=}; fi
  scenario=${run%%:*}
  extra=()
  name=$scenario
  if [ "$run" != "$scenario" ]; then
    read -r -a extra <<<"${run#*:}"
    name=$scenario-$n
  fi
  name=${label:-$name}
  echo "== $scenario ${extra[*]:-} -> docs/reports/$name.md" >&2
  "$DIBS_BUILD_DIR/cli/dibsctl" load --scenario "$scenario" "${extra[@]}" \
    --url "http://127.0.0.1:$DIBS_HTTP_PORT" --mysql.port "$DIBS_MYSQL_PORT" \
    --kafka.bootstrap-file "$DIBS_KAFKA_BOOTSTRAP_FILE" \
    --markdown "$out/$name.md" --json "$out/$name.json" >/dev/null || status=1
done
exit $status
