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
# The embedded Kafka broker (deps.sh): how many (1, or 3 for a replicated
# cluster), the first one's port (broker i listens on port + 2(i-1), its
# controller one above), its JVM heap, and where install.sh put its jars.
DIBS_KAFKA_BROKERS=${DIBS_KAFKA_BROKERS:-1}
DIBS_KAFKA_PORT=${DIBS_KAFKA_PORT:-9092}
DIBS_KAFKA_HEAP=${DIBS_KAFKA_HEAP:--Xms320m -Xmx320m}
DIBS_KAFKA_LIB=${DIBS_KAFKA_LIB:-$DIBS_BUILD_DIR/kafka/lib}
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

# Does process $1 run? `kill -0` alone is not enough: a process killed with
# kill -9 stays a zombie until its parent (often pid 1, which reaps orphans
# late on some machines and containers) reaps it, and kill -0 succeeds on a
# zombie for that time (about 1.5 s here). So the state field of
# /proc/PID/stat decides as well: Z (zombie) or X (dead) count as not
# running, and so does a missing /proc entry. The state comes after the
# command name in parentheses, which may itself hold spaces and parentheses,
# so it is read after the last ") ". kill -0 stays as the first test: it also
# fails on a process of another user, which is none we started.
dibs_pid_alive() {
  local pid=$1 stat
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  case ${stat%% *} in
    Z|X|'') return 1 ;;
  esac
  return 0
}

# Is the process in pid file $1 alive?
#
# Against a reused pid, one cheap test only: a pid file last written before
# the machine booted names no process that runs now, whatever has that pid
# today (the run folder is on disk, so the pid files of dibs and the broker,
# which no one removes after a crash or a shutdown, outlive a reboot, and
# after it a low pid is soon taken by some other process of the same user).
# Tests that could judge a running process dead were left out on purpose,
# since that is the worse mistake: start would run a second copy beside it
# and stop could no longer reach the first. Comparing the process's start
# time with the pid file's is such a test once the wall clock is stepped
# forward after the write, and matching /proc/PID/cmdline against a program
# name would need every caller to pass one (redis-server rewrites its own
# command line, too). The boot test fails only if the clock is stepped
# forward by more than the time between the boot and the write. It does not
# catch a container restarted without the host rebooting (btime in
# /proc/stat is the host's).
dibs_alive() {
  local pidfile=$1 written booted
  [ -f "$pidfile" ] || return 1
  written=$(stat -c %Y "$pidfile" 2>/dev/null) || return 1
  booted=$(awk '$1 == "btime" { print $2 }' /proc/stat 2>/dev/null)
  [ -n "$booted" ] && [ "$written" -lt "$booted" ] && return 1
  dibs_pid_alive "$(cat "$pidfile" 2>/dev/null)"
}

# Sends SIGTERM to the process in pid file $1 and waits up to $2 seconds
# (default 60) before SIGKILL, then until it is gone or a zombie, so that
# a start right after stop finds its ports and files free (a zombie holds
# none: it closed them all when it died).
dibs_stop_pid() {
  local pidfile=$1 wait=${2:-60} pid
  dibs_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((wait * 10))); do
    dibs_pid_alive "$pid" || break
    sleep 0.1
  done
  if dibs_pid_alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      dibs_pid_alive "$pid" || break
      sleep 0.1
    done
  fi
  rm -f "$pidfile"
}
