# Shared settings of the scripts in this folder; sourced, not run.
# Every value can be overridden from the environment.

DIBS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIBS_BUILD_DIR=${DIBS_BUILD_DIR:-$DIBS_ROOT/build}
# Everything the scripts start lives under the run folder: data, sockets,
# logs, pid files, the embedded broker's bootstrap list.
DIBS_RUN_DIR=${DIBS_RUN_DIR:-$DIBS_ROOT/.run}
DIBS_HTTP_PORT=${DIBS_HTTP_PORT:-8080}
DIBS_MYSQL_PORT=${DIBS_MYSQL_PORT:-3306}
DIBS_REDIS_PORT=${DIBS_REDIS_PORT:-6379}
DIBS_KAFKA_BROKERS=${DIBS_KAFKA_BROKERS:-3}
DIBS_KAFKA_PARTITIONS=${DIBS_KAFKA_PARTITIONS:-6}
DIBS_MYSQL_SOCKET=$DIBS_RUN_DIR/mysql/mysqld.sock
DIBS_KAFKA_BOOTSTRAP_FILE=$DIBS_RUN_DIR/kafka.bootstrap
# The node's configuration file, and its folder under the run folder (a
# cluster's nodes each have one: cluster.sh).
DIBS_CONFIG_FILE=${DIBS_CONFIG_FILE:-$DIBS_ROOT/cluster-config/dibs.ini}
DIBS_NODE_NAME=${DIBS_NODE_NAME:-node}

# Arguments that point a node at the dependencies started by deps.sh.
dibs_node_args() {
  echo "--config-file=$DIBS_CONFIG_FILE" \
       "--http.port=$DIBS_HTTP_PORT" \
       "--mysql.port=$DIBS_MYSQL_PORT" \
       "--redis.port=$DIBS_REDIS_PORT" \
       "--kafka.bootstrap-file=$DIBS_KAFKA_BOOTSTRAP_FILE" \
       ${DIBS_NODE_ARGS:-}
}

# Is the process in pid file $1 alive?
dibs_alive() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# Sends SIGTERM to the process in pid file $1 and waits up to $2 seconds
# (default 60) before SIGKILL.
dibs_stop_pid() {
  local pidfile=$1 wait=${2:-60} pid
  dibs_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq $((wait * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$pidfile"
}
