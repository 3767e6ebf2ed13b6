#!/usr/bin/env bash
# Starts, stops or reports the dependencies of dibs, on loopback and under
# the run folder, without systemd: redis-server, mariadbd (with the dibs
# database and user) and the embedded Kafka broker (Apache Kafka in KRaft mode).
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

# The embedded broker: Apache Kafka's own, in KRaft mode (broker and
# controller in one JVM), from the classpath install.sh fetched with Maven.
# DIBS_KAFKA_BROKERS=1 (the default) or 3 (replication 3 and
# min.insync.replicas=2: the tests that lose a broker). Broker i lives in
# $DIBS_RUN_DIR/kafka/<i>/ and listens on 127.0.0.1 at
# DIBS_KAFKA_PORT + 2(i-1), its controller one port above. Formatted once;
# a restarted broker keeps its log.
kafka_props() {
  local i=$1 n=$DIBS_KAFKA_BROKERS dir=$DIBS_RUN_DIR/kafka/$1 voters="" j
  for j in $(seq "$n"); do
    voters+="${voters:+,}$j@127.0.0.1:$((DIBS_KAFKA_PORT + 2 * (j - 1) + 1))"
  done
  local port=$((DIBS_KAFKA_PORT + 2 * (i - 1))) rf=$((n < 3 ? 1 : 3))
  local isr=$((n < 3 ? 1 : 2))
  cat <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$((port + 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
# The node creates the issuance topic (kafka.partitions,
# kafka.replication-factor); nothing else appears by accident.
auto.create.topics.enable=false
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
# A writer's group join must not wait 3 s for more members.
group.initial.rebalance.delay.ms=0
# The shard owners' group drops a silent node after 2 s (failover within
# 5 s); Kafka's default floor is 6 s.
group.min.session.timeout.ms=1000
# A restarted broker is refused until its old registration expires: keep
# that to about 2 s instead of 9.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=2000
# Flushing to disk before acknowledging: off by default (the page cache
# keeps a yes through any process crash; docs/recovery.md).
log.flush.interval.messages=${DIBS_KAFKA_FLUSH_MESSAGES:-9223372036854775807}
num.partitions=1
# The log cleaner's offset map (for compacted topics: here only Kafka's
# internal ones) lives in the heap: the default of 128 MB was most of
# the 320 MB, and left G1 collecting twice as often under load
# (docs/performance.md#broker-heap).
log.cleaner.dedupe.buffer.size=16777216
PROPS
}

kafka_start_one() {
  local i=$1 dir=$DIBS_RUN_DIR/kafka/$1
  mkdir -p "$dir"
  dibs_alive "$dir/kafka.pid" && return 0
  kafka_props "$i" >"$dir/server.properties"
  local cp="$DIBS_KAFKA_LIB/*"
  if [ ! -f "$dir/data/meta.properties" ]; then
    # One cluster id for every broker of the run folder, so a broker of
    # three whose disk was lost rejoins its cluster. A single broker
    # formatted anew is another log, and gets another id: the node tells
    # logs apart by it.
    local id_file=$DIBS_RUN_DIR/kafka/cluster.id
    [ "$DIBS_KAFKA_BROKERS" -gt 1 ] || rm -f "$id_file"
    [ -s "$id_file" ] || java -cp "$cp" kafka.tools.StorageTool random-uuid \
      2>/dev/null | tail -1 >"$id_file"
    java -cp "$cp" kafka.tools.StorageTool format -t "$(cat "$id_file")" \
      -c "$dir/server.properties" >"$dir/format.log" 2>&1 || {
      echo "formatting Kafka's log in $dir failed; see $dir/format.log" >&2
      return 1
    }
  fi
  : >"$dir/kafka.log"
  nohup java $DIBS_KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -cp "$cp" kafka.Kafka "$dir/server.properties" \
    >>"$dir/kafka.log" 2>&1 &
  echo $! >"$dir/kafka.pid"
}

kafka_start() {
  [ -f "$DIBS_KAFKA_LIB/.complete" ] || {
    echo "Kafka's jars are not in $DIBS_KAFKA_LIB; run cluster-config/install.sh" >&2
    return 1
  }
  local i list=""
  for i in $(seq "$DIBS_KAFKA_BROKERS"); do
    kafka_start_one "$i" || return 1
    list+="${list:+,}127.0.0.1:$((DIBS_KAFKA_PORT + 2 * (i - 1)))"
  done
  # Serving once each broker says so (a quorum of three needs two of them
  # up before any says it).
  for i in $(seq "$DIBS_KAFKA_BROKERS"); do
    local dir=$DIBS_RUN_DIR/kafka/$i ok=
    for _ in $(seq 1200); do
      grep -q "Kafka Server started" "$dir/kafka.log" 2>/dev/null && { ok=1; break; }
      dibs_alive "$dir/kafka.pid" || break
      sleep 0.1
    done
    [ -n "$ok" ] || {
      echo "the Kafka broker $i did not start; see $dir/kafka.log" >&2
      return 1
    }
  done
  echo "$list" >"$DIBS_KAFKA_BOOTSTRAP_FILE"
}

kafka_stop() {
  local pidfile
  # Together, then each waited for: a broker that lost its quorum hangs in
  # a controlled shutdown, so SIGKILL after 15 s.
  for pidfile in "$DIBS_RUN_DIR"/kafka/*/kafka.pid; do
    [ -f "$pidfile" ] && dibs_alive "$pidfile" && kill -TERM "$(cat "$pidfile")" 2>/dev/null
  done
  for pidfile in "$DIBS_RUN_DIR"/kafka/*/kafka.pid; do
    [ -f "$pidfile" ] && dibs_stop_pid "$pidfile" 15
  done
  return 0
}

status() {
  local name pidfile
  for pair in "redis:redis/redis.pid" "mariadb:mysql/mysqld.pid" \
      $(for i in $(seq "$DIBS_KAFKA_BROKERS"); do echo "kafka-$i:kafka/$i/kafka.pid"; done); do
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
    kafka_stop
    dibs_stop_pid "$DIBS_RUN_DIR/mysql/mysqld.pid" 60
    dibs_stop_pid "$DIBS_RUN_DIR/redis/redis.pid" 10
    rm -f "$DIBS_KAFKA_BOOTSTRAP_FILE"
    ;;
  status) status ;;
  *) echo "usage: $0 start [redis|mariadb|kafka ...]|stop|status" >&2; exit 2 ;;
esac
