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
#
# DIBS_REPORT_TOOL=locust runs the same scenarios with Locust instead
# (cli/locust/locustfile.py; no extra arguments) and writes Locust's summary
# to docs/reports/locust/<scenario>.md and its statistics beside it (.csv).
#
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

tool=${DIBS_REPORT_TOOL:-dibsctl}
if [ "$tool" = locust ]; then
  bash "$root/cluster-config/install.sh" --tests
  mkdir -p "$out/locust"
else
  bash "$root/cluster-config/install.sh"
fi
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
  if [ "$tool" = locust ]; then
    [ ${#extra[@]} -eq 0 ] || { echo "reports.sh: Locust takes no extra arguments" >&2; exit 2; }
    echo "== $scenario (Locust) -> docs/reports/locust/$name.md" >&2
    {
      echo "# $scenario, run by Locust"
      echo
      echo "- Started $(date -u +%FT%TZ) against http://127.0.0.1:$DIBS_HTTP_PORT"
      echo "- Command: \`DIBS_REPORT_TOOL=locust bash tests/bench/reports.sh $scenario\`"
      echo "  (\`locust -f cli/locust/locustfile.py --headless --only-summary\`, one process)"
      echo
      echo '```'
      DIBS_SCENARIO=$scenario DIBS_ADMIN_TOKEN=$DIBS_ADMIN_TOKEN \
        "$DIBS_BUILD_DIR/locust/bin/locust" -f "$root/cli/locust/locustfile.py" \
        --headless --only-summary --host "http://127.0.0.1:$DIBS_HTTP_PORT" \
        --csv "$DIBS_RUN_DIR/locust-$name" 2>&1 |
        grep -v -E 'INFO/|WARNING/locust.runners: Your selected spawn rate' || status=1
      echo '```'
    } >"$out/locust/$name.md"
    cp "$DIBS_RUN_DIR/locust-${name}_stats.csv" "$out/locust/$name.csv"
    continue
  fi
  echo "== $scenario ${extra[*]:-} -> docs/reports/$name.md" >&2
  "$DIBS_BUILD_DIR/cli/dibsctl" load --scenario "$scenario" "${extra[@]}" \
    --url "http://127.0.0.1:$DIBS_HTTP_PORT" --mysql.port "$DIBS_MYSQL_PORT" \
    --kafka.bootstrap-file "$DIBS_KAFKA_BOOTSTRAP_FILE" \
    --markdown "$out/$name.md" --json "$out/$name.json" >/dev/null || status=1
done
exit $status
