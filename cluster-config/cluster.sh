#!/usr/bin/env bash
# Runs a local dibs cluster on loopback: installs the packages, builds,
# starts Redis, MariaDB and the embedded Kafka broker under the run folder,
# then every node the cluster file names, each on its own ports and with
# its own folder and log under the run folder.
#
#   bash cluster-config/cluster.sh start [CLUSTER_FILE] [--option=value ...]
#   bash cluster-config/cluster.sh stop [CLUSTER_FILE]    nodes, then deps
#   bash cluster-config/cluster.sh status [CLUSTER_FILE]
#   bash cluster-config/cluster.sh node start|stop ID [CLUSTER_FILE] [...]
#
# CLUSTER_FILE defaults to cluster-config/cluster-local.ini (three nodes).
# Extra options go to every node.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"

command=${1:-}
shift || true
if [ "$command" = node ]; then
  action=${1:?node start|stop ID}
  only=${2:?node start|stop ID}
  shift 2
fi
file=$here/cluster-local.ini
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
  file=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
  shift
fi

# "id port" of each node in the file.
members() {
  sed -n 's/.*id="\([^"]*\)".*http="[^"]*:\([0-9]*\)".*/\1 \2/p' "$file"
}

node_cmd() { # action id port [options]
  local action=$1 id=$2 port=$3 named=()
  shift 3
  [ "$action" = start ] && named=("--node.id=$id")
  DIBS_NODE_NAME=$id DIBS_HTTP_PORT=$port DIBS_CONFIG_FILE=$file \
    bash "$here/node.sh" "$action" "${named[@]}" "$@"
}

case "$command" in
  start)
    bash "$here/install.sh"
    bash "$here/build.sh"
    bash "$here/deps.sh" start
    members | while read -r id port; do
      node_cmd start "$id" "$port" "$@"
    done
    echo "cluster of $(members | wc -l) nodes from $file; stop it with: bash $0 stop"
    ;;
  stop)
    members | while read -r id port; do
      node_cmd stop "$id" "$port"
    done
    bash "$here/deps.sh" stop
    ;;
  status)
    members | while read -r id port; do
      echo -n "$id: "
      node_cmd status "$id" "$port"
    done
    ;;
  node)
    port=$(members | awk -v id="$only" '$1 == id { print $2 }')
    [ -n "$port" ] || { echo "no node $only in $file" >&2; exit 2; }
    node_cmd "$action" "$only" "$port" "$@"
    ;;
  *)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
