#!/usr/bin/env bash
# Starts or stops one dibs node in the background, pointed at the
# dependencies deps.sh started. Extra arguments go to the node.
#
#   node.sh start [--option=value ...] | stop | status
set -euo pipefail
source "$(dirname "$0")/env.sh"

dir=$DIBS_RUN_DIR/$DIBS_NODE_NAME
pidfile=$dir/dibs.pid

case "${1:-}" in
  start)
    shift
    mkdir -p "$dir"
    if dibs_alive "$pidfile"; then
      echo "dibs already runs (pid $(cat "$pidfile")) on http://127.0.0.1:$DIBS_HTTP_PORT"
      exit 0
    fi
    if [ -z "${DIBS_ADMIN_TOKEN:-}" ]; then
      [ -s "$DIBS_RUN_DIR/admin.token" ] || head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$DIBS_RUN_DIR/admin.token"
      DIBS_ADMIN_TOKEN=$(cat "$DIBS_RUN_DIR/admin.token")
    fi
    export DIBS_ADMIN_TOKEN
    # shellcheck disable=SC2046
    nohup "$DIBS_BUILD_DIR/gateway/dibs" $(dibs_node_args) "$@" \
      >>"$dir/dibs.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 600); do
      curl -fs "http://127.0.0.1:$DIBS_HTTP_PORT/readyz" >/dev/null 2>&1 && break
      dibs_alive "$pidfile" || { echo "dibs exited; see $dir/dibs.log" >&2; tail -5 "$dir/dibs.log" >&2; exit 1; }
      sleep 0.1
    done
    curl -fs "http://127.0.0.1:$DIBS_HTTP_PORT/readyz" >/dev/null || { echo "dibs not ready; see $dir/dibs.log" >&2; exit 1; }
    echo "dibs listening on http://127.0.0.1:$DIBS_HTTP_PORT (pid $(cat "$pidfile"), log $dir/dibs.log)"
    echo "admin token: $DIBS_ADMIN_TOKEN"
    ;;
  stop)
    dibs_stop_pid "$pidfile" 90
    ;;
  status)
    if dibs_alive "$pidfile"; then echo "dibs: running (pid $(cat "$pidfile")) on http://127.0.0.1:$DIBS_HTTP_PORT"
    else echo "dibs: stopped"; fi
    ;;
  *) echo "usage: $0 start [options] | stop | status" >&2; exit 2 ;;
esac
