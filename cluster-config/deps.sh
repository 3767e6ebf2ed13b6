#!/usr/bin/env bash
# Starts, stops or reports the dependencies of dibs, on loopback and under
# the run folder, without systemd: redis-server, mariadbd (with the dibs
# database and user) and the embedded Kafka broker (dibs-kafka).
#
#   deps.sh start | stop | status
#
# Idempotent: starting what runs already, or stopping what does not, is fine.
set -euo pipefail
source "$(dirname "$0")/env.sh"

redis_start() {
  local dir=$DIBS_RUN_DIR/redis
  mkdir -p "$dir"
  dibs_alive "$dir/redis.pid" && return 0
  redis-server --port "$DIBS_REDIS_PORT" --bind 127.0.0.1 --save "" \
    --appendonly no --daemonize yes --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log" --dir "$dir"
  for _ in $(seq 100); do
    redis-cli -p "$DIBS_REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "redis did not start; see $dir/redis.log" >&2
  return 1
}

mysql_start() {
  local dir=$DIBS_RUN_DIR/mysql
  mkdir -p "$dir"
  if ! dibs_alive "$dir/mysqld.pid"; then
    if [ ! -d "$dir/data/mysql" ]; then
      mariadb-install-db --no-defaults --datadir="$dir/data" --user=root \
        --auth-root-authentication-method=socket --skip-test-db \
        >"$dir/install.log" 2>&1
    fi
    nohup mariadbd --no-defaults --datadir="$dir/data" --user=root \
      --socket="$DIBS_MYSQL_SOCKET" --port="$DIBS_MYSQL_PORT" \
      --bind-address=127.0.0.1 --pid-file="$dir/mysqld.pid" \
      --log-error="$dir/mysqld.log" --skip-name-resolve \
      --innodb-buffer-pool-size=512M --max-connections=200 \
      >/dev/null 2>&1 &
    for _ in $(seq 300); do
      mariadb-admin --socket="$DIBS_MYSQL_SOCKET" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    mariadb-admin --socket="$DIBS_MYSQL_SOCKET" ping >/dev/null 2>&1 || {
      echo "mariadbd did not start; see $dir/mysqld.log" >&2
      return 1
    }
  fi
  # The documented database and user (see README.md); the node creates the
  # tables itself.
  mariadb --socket="$DIBS_MYSQL_SOCKET" -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS dibs;
CREATE USER IF NOT EXISTS 'dibs'@'127.0.0.1' IDENTIFIED BY 'dibs';
CREATE USER IF NOT EXISTS 'dibs'@'localhost' IDENTIFIED BY 'dibs';
GRANT ALL PRIVILEGES ON dibs.* TO 'dibs'@'127.0.0.1';
GRANT ALL PRIVILEGES ON dibs.* TO 'dibs'@'localhost';
SQL
}

kafka_start() {
  local dir=$DIBS_RUN_DIR/kafka
  mkdir -p "$dir"
  dibs_alive "$dir/kafka.pid" && return 0
  local bin=$DIBS_BUILD_DIR/persistence/dibs-kafka
  [ -x "$bin" ] || { echo "$bin is not built; run cluster-config/build.sh" >&2; return 1; }
  rm -f "$DIBS_KAFKA_BOOTSTRAP_FILE"
  nohup "$bin" --bootstrap-file "$DIBS_KAFKA_BOOTSTRAP_FILE" \
    --brokers "$DIBS_KAFKA_BROKERS" --partitions "$DIBS_KAFKA_PARTITIONS" \
    >"$dir/kafka.log" 2>&1 &
  echo $! >"$dir/kafka.pid"
  for _ in $(seq 100); do
    [ -s "$DIBS_KAFKA_BOOTSTRAP_FILE" ] && return 0
    sleep 0.05
  done
  echo "dibs-kafka did not start; see $dir/kafka.log" >&2
  return 1
}

status() {
  local name pidfile
  for pair in "redis:redis/redis.pid" "mariadb:mysql/mysqld.pid" "kafka:kafka/kafka.pid"; do
    name=${pair%%:*}; pidfile=$DIBS_RUN_DIR/${pair#*:}
    if dibs_alive "$pidfile"; then echo "$name: running (pid $(cat "$pidfile"))"
    else echo "$name: stopped"; fi
  done
  [ -s "$DIBS_KAFKA_BOOTSTRAP_FILE" ] && echo "kafka bootstrap: $(cat "$DIBS_KAFKA_BOOTSTRAP_FILE")"
  return 0
}

case "${1:-}" in
  start)
    if [ $# -gt 1 ]; then
      # Only the named ones (a test restarts the broker while mariadbd is
      # stopped).
      for part in "${@:2}"; do
        case $part in
          redis) redis_start ;;
          mariadb) mysql_start ;;
          kafka) kafka_start ;;
          *) echo "unknown dependency: $part (redis, mariadb, kafka)" >&2; exit 2 ;;
        esac
      done
      exit 0
    fi
    redis_start
    mysql_start
    kafka_start
    echo "redis 127.0.0.1:$DIBS_REDIS_PORT, mariadb 127.0.0.1:$DIBS_MYSQL_PORT" \
         "(database/user/password dibs), kafka $(cat "$DIBS_KAFKA_BOOTSTRAP_FILE")"
    ;;
  stop)
    dibs_stop_pid "$DIBS_RUN_DIR/kafka/kafka.pid" 10
    dibs_stop_pid "$DIBS_RUN_DIR/mysql/mysqld.pid" 60
    dibs_stop_pid "$DIBS_RUN_DIR/redis/redis.pid" 10
    rm -f "$DIBS_KAFKA_BOOTSTRAP_FILE"
    ;;
  status) status ;;
  *) echo "usage: $0 start [redis|mariadb|kafka ...]|stop|status" >&2; exit 2 ;;
esac
