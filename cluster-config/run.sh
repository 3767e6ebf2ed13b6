#!/usr/bin/env bash
# The one command that runs dibs on a fresh Debian 12 machine: installs the
# packages, builds, starts Redis, MariaDB and the embedded Kafka broker under
# the run folder, starts a node and prints where it listens.
#
#   bash cluster-config/run.sh          # start everything
#   bash cluster-config/run.sh stop     # stop the node, then the dependencies
set -euo pipefail
here=$(dirname "$0")
if [ "${1:-}" = stop ]; then
  bash "$here/node.sh" stop
  bash "$here/deps.sh" stop
  exit 0
fi
bash "$here/install.sh"
bash "$here/build.sh"
bash "$here/deps.sh" start
bash "$here/node.sh" start "$@"
